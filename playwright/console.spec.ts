import { expect, test } from "@playwright/test";
import { acceptConfirms, screenshot, signInThroughUi, typeFormfile } from "./fixtures/session";

const VALID = `NAME console-e2e
USER username:dev passwd:secret sudo:true
VCPU 1
MEM 1024
DISK 5
`;

test.describe("console pages", () => {
  test("signed out: the overview explains the product and /builds asks to sign in", async ({
    page,
  }, testInfo) => {
    await page.goto("/");
    await expect(page.getByTestId("hero")).toBeVisible();
    await screenshot(page, testInfo, "overview-signed-out");
    await page.goto("/builds");
    await expect(page.getByTestId("sign-in-prompt")).toContainText("Sign in to see your builds");
    await screenshot(page, testInfo, "builds-signed-out");
  });

  test("signed in: every page renders", async ({ page }, testInfo) => {
    await signInThroughUi(page);
    await expect(page.getByTestId("overview-stats")).toBeVisible();
    await screenshot(page, testInfo, "overview");

    const pages: Array<{ path: string; heading: string; name: string }> = [
      { path: "/deploy", heading: "New deployment", name: "deploy" },
      { path: "/builds", heading: "Builds", name: "builds" },
      { path: "/instances", heading: "Instances", name: "instances" },
      { path: "/nodes", heading: "Nodes", name: "nodes" },
      { path: "/network", heading: "Network", name: "network" },
      { path: "/account", heading: "Account", name: "account" },
    ];
    for (const p of pages) {
      await page.goto(p.path);
      await expect(page.getByRole("heading", { level: 1, name: p.heading })).toBeVisible();
      await expect(page.getByTestId("sign-in-prompt")).toHaveCount(0);
      // Scoped to main: Next's route announcer is an (empty) alert too.
      await expect(page.locator("main").getByRole("alert")).toHaveCount(0);
      await screenshot(page, testInfo, p.name);
    }

    // Phone-sized viewport and dark mode.
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto("/deploy");
    await expect(page.getByTestId("formfile-editor")).toBeVisible();
    await screenshot(page, testInfo, "deploy-phone");
    await page.getByRole("button", { name: "Toggle dark mode" }).click();
    await expect(page.locator("html")).toHaveClass(/dark/);
    await page.goto("/nodes");
    await expect(page.getByRole("heading", { level: 1, name: "Nodes" })).toBeVisible();
    await screenshot(page, testInfo, "nodes-phone-dark");
  });

  test("deploy page shows Formfile errors with line:column while typing and clears them when fixed", async ({
    page,
  }, testInfo) => {
    await signInThroughUi(page, { path: "/deploy" });
    await typeFormfile(page, VALID);
    await expect(page.getByTestId("formfile-status")).toHaveText("✓ valid");
    await expect(page.getByTestId("formfile-error")).toHaveCount(0);
    await expect(page.getByTestId("submit-build")).toBeEnabled();

    // An unknown instruction on line 3, typed key by key as a user would.
    const editor = page.getByTestId("formfile-editor");
    await typeFormfile(page, VALID.replace("VCPU 1\n", ""));
    await editor.press("Control+End");
    await editor.pressSequentially("RUNN echo hi");
    const error = page.getByTestId("formfile-error").first();
    await expect(error).toContainText("5:1");
    await expect(error).toContainText(/RUNN/);
    await expect(page.getByTestId("submit-build")).toBeDisabled();
    await screenshot(page, testInfo, "deploy-error");

    // Fixing it clears the error.
    await editor.press("Home");
    await editor.press("Delete");
    await editor.press("Delete");
    await editor.press("Delete");
    await editor.press("Delete");
    await editor.pressSequentially("RUN");
    await expect(page.getByTestId("formfile-error")).toHaveCount(0);
    await expect(page.getByTestId("formfile-status")).toHaveText("✓ valid");

    // A policy violation shows in the resources summary.
    await typeFormfile(page, VALID.replace("VCPU 1", "VCPU 8"));
    await expect(page.getByTestId("policy-violations")).toContainText("VCPU 8 exceeds the devnet limit");
    await expect(page.getByTestId("submit-build")).toBeDisabled();
  });

  test("nodes page shows the local node agent online", async ({ page }, testInfo) => {
    await signInThroughUi(page, { path: "/nodes" });
    // The platform's own agent may still be starting: poll until it has joined and heartbeats.
    await expect(page.getByTestId("node-card").first()).toBeVisible({ timeout: 180_000 });
    await expect(page.getByTestId("node-status").first()).toHaveText("online", { timeout: 180_000 });
    await screenshot(page, testInfo, "nodes-online");
    await page.getByTestId("node-card").first().getByRole("link").first().click();
    await expect(page.getByTestId("metric-charts")).toBeVisible();
    await screenshot(page, testInfo, "node-detail");
  });

  test("deploy signs and queues a build, cancel is signed, and the audit log verifies both", async ({
    page,
  }, testInfo) => {
    acceptConfirms(page);
    await signInThroughUi(page, { path: "/deploy" });
    await typeFormfile(page, VALID.replace("console-e2e", `console-e2e-${Date.now().toString(36)}`));
    await page.getByTestId("submit-build").click();
    // The wallet signs build.create (EIP-712) and the page moves to the new build.
    // The build link carries no flow state (issue 24): reopening it never signs anything.
    await page.waitForURL(/\/builds\/[0-9a-f]{64}$/);
    await expect(page.getByTestId("build-timeline")).toBeVisible();
    await expect(page.getByTestId("phase-queued")).not.toHaveAttribute("data-state", "pending");
    await screenshot(page, testInfo, "build-queued");

    const status = page.getByTestId("build-status");
    if (["queued", "claimed", "building"].includes((await status.textContent()) ?? "")) {
      await page.getByTestId("cancel-build").click();
      await expect(status).toHaveText("cancelled");
      await expect(page.getByTestId("phase-cancelled")).toBeVisible();
      await screenshot(page, testInfo, "build-cancelled");
    }

    await page.goto("/account");
    const entries = page.getByTestId("audit-entry");
    await expect(entries.filter({ hasText: "build.create" })).toHaveCount(1);
    const create = entries.filter({ hasText: "build.create" }).first();
    await create.getByTestId("verify-audit").click();
    await expect(create.getByTestId("audit-verdict")).toHaveText("signature valid");
    await screenshot(page, testInfo, "account-audit");
  });
});
