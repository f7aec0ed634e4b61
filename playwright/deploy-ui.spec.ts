import { expect, test } from "@playwright/test";
import {
  acceptConfirms,
  deleteInstanceThroughUi,
  deployThroughUi,
  screenshot,
  signInThroughUi,
} from "./fixtures/session";

// The whole deploy through the browser on the real platform (its own node agent, real VM under
// TCG): sign → build with live log → auto-ship (with the owner's signed build commitment) → running
// replica with a formnet IP and its commitment mined on the devnet.
test("deploys a Formfile from the browser to a running instance", async ({ page }, testInfo) => {
  acceptConfirms(page);
  await signInThroughUi(page, { path: "/nodes" });
  await expect(page.getByTestId("node-status").first()).toHaveText("online", { timeout: 240_000 });

  const marker = `built-by-ui-${Date.now().toString(36)}`;
  await deployThroughUi(page, {
    formfile: `NAME ui-deploy\nUSER username:dev passwd:secret sudo:true\nVCPU 1\nMEM 512\nDISK 5\nRUN echo ${marker}\n`,
    // The platform runs one agent, so one replica (the page would say so for more).
    replicas: 1,
  });
  await expect(page.getByTestId("phase-building")).toHaveAttribute("data-state", /current|done/, {
    timeout: 300_000,
  });
  await screenshot(page, testInfo, "build-building");
  // The RUN step's output streams into the log.
  await expect(page.getByTestId("build-logs")).toContainText(marker, { timeout: 600_000 });
  // Auto-ship (ticked by default on the deploy page) takes it on to running.
  await expect(page.getByTestId("build-status")).toHaveText("running", { timeout: 900_000 });
  for (const phase of ["queued", "claimed", "building", "built", "distributing", "booting", "running"]) {
    await expect(page.getByTestId(`phase-${phase}`)).toHaveAttribute("data-state", "done");
  }
  await screenshot(page, testInfo, "build-running");

  await page.getByTestId("instances-table").getByRole("link").first().click();
  await expect(page.getByTestId("instance-status")).toHaveText("running");
  await expect(page.getByText(/^10\.42\.\d+\.\d+$/).first()).toBeVisible();
  await expect(page.getByTestId("metric-charts")).toBeVisible();
  await expect(page.getByTestId("terminal-slot")).toBeVisible();
  // The ship carried the owner's signed BuildCommitment; the console relayed it to the devnet's
  // Orchestrator and the page reads the contract back: image digest ⇄ mined commitment.
  await expect(page.getByTestId("commitment-state")).toHaveText("confirmed", { timeout: 60_000 });
  await expect(page.getByTestId("commitment-tx")).toHaveText(/^0x[0-9a-f]{64}$/);
  await expect(page.getByTestId("commitment-block")).toHaveText(/^\d+$/);
  await expect(page.getByTestId("commitment-verified")).toHaveText("verified on chain");
  await screenshot(page, testInfo, "instance");
  const instanceUrl = page.url();
  await page.goto("/instances");
  await expect(page.getByTestId("deployments-table")).toContainText("ui-deploy");
  await expect(page.getByTestId("deployments-table")).toContainText("confirmed");
  await page.goto(instanceUrl);
  await deleteInstanceThroughUi(page);
});
