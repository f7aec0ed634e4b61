import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { expect, test } from "@playwright/test";
import {
  apiAs,
  CONSOLE_ORIGIN,
  closePlatformDb,
  deleteAllDeployments,
  formfileText,
  largestNodeVcpu,
  seedBuild,
  uniqueName,
} from "./fixtures/platform";
import { screenshot, signInThroughUi, typeFormfile } from "./fixtures/session";

// Bounded waits: a missing element or navigation fails in seconds, not at the 15-minute test timeout.
test.use({ actionTimeout: 30_000, navigationTimeout: 60_000 });

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, "..");

// Issue 24, item 3: a replica waiting for capacity is visible everywhere — build page (timeline and
// deployment status), /instances and the CLI's `pack status` — with desired vs placed replicas and
// why it waits. The build is seeded as finished with one vCPU more than any node offers.

test.afterAll(closePlatformDb);

test("a replica waiting for capacity shows on the build page, /instances and in `form pack status`", async ({
  page,
}, testInfo) => {
  const wallet = await signInThroughUi(page);
  const api = apiAs(wallet.account);
  const largest = await largestNodeVcpu(api);
  const name = uniqueName("waits");
  const buildId = await seedBuild({
    owner: wallet.account.address,
    formfile: formfileText({ name, vcpu: largest + 1 }),
    status: "built",
  });
  await page.goto(`/builds/${buildId}`);
  await page.getByTestId("ship-replicas").fill("1");
  await page.getByTestId("ship-build").click();
  const status = page.getByTestId("deployment-status");
  await expect(status).toContainText("0 of 1 replicas placed");
  await expect(status).toContainText(`waiting for capacity: needs ${largest + 1} vCPU, largest free`);
  // The timeline says it waits (ticking), instead of counting the wait as "built".
  await expect(page.getByTestId("phase-waiting")).toHaveAttribute("data-state", "current");
  await expect(page.getByTestId("phase-waiting")).toContainText(/waiting/i);
  await screenshot(page, testInfo, "build-waiting");

  await page.goto("/instances");
  await expect(page.getByText("No instances yet")).toHaveCount(0);
  const row = page.getByTestId("deployment-row").filter({ hasText: name });
  await expect(row).toContainText("0 of 1");
  await expect(row).toContainText(`needs ${largest + 1} vCPU`);
  await screenshot(page, testInfo, "instances-waiting");

  // The CLI, as a user types it, with the same wallet's key.
  const formkit = await mkdtemp(join(tmpdir(), "formkit-"));
  try {
    const env = { ...process.env, FORMKIT: formkit, FORM_PASSWORD: "e2e-password-123" };
    await run(
      "node",
      ["cli/bin.mjs", "kit", "init", "--yes", "--private-key", wallet.privateKey, "--host", CONSOLE_ORIGIN],
      { cwd: ROOT, env },
    );
    const { stdout } = await run("node", ["cli/bin.mjs", "pack", "status", "--build-id", buildId], {
      cwd: ROOT,
      env,
    });
    expect(stdout).toContain("0 of 1 replicas placed");
    expect(stdout).toContain(`waiting for capacity: needs ${largest + 1} vCPU`);
  } finally {
    await rm(formkit, { recursive: true, force: true });
  }
  await deleteAllDeployments(wallet.account);
});

// Item 4: the deploy page says before signing what the network can place.
test("the deploy page defaults replicas to what the network can host and warns before signing", async ({
  page,
}) => {
  const wallet = await signInThroughUi(page, { path: "/deploy" });
  const api = apiAs(wallet.account);
  const nodes = (await api.nodes.list.query({})).filter((n) => n.status === "online");
  const free = nodes.map((n) => n.capacity.vcpu - n.allocated.vcpu);
  const fitting = free.filter((f) => f >= 1).length;
  await typeFormfile(page, formfileText({ name: uniqueName("warn"), vcpu: 1 }));
  const warning = page.getByTestId("capacity-warning");
  if (fitting < 3) {
    await expect(page.getByTestId("replicas-input")).toHaveValue(String(Math.max(1, fitting)));
    await page.getByTestId("replicas-input").fill("3");
    await expect(warning).toContainText(`of 3 replicas will wait for capacity`);
  }
  // More vCPU than any node has free: nothing can be placed now, and the page says so.
  const largestFree = Math.max(0, ...free);
  if (largestFree < 2) {
    await typeFormfile(page, formfileText({ name: uniqueName("warn"), vcpu: 2 }));
    await expect(warning).toContainText(
      `No node has 2 vCPU free right now (largest free: ${largestFree} vCPU)`,
    );
  }
  await expect(page.getByTestId("submit-build")).toBeEnabled();
});
