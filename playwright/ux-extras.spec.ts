import { expect, test } from "@playwright/test";
import { closePlatformDb, finishSeededBuild, formfileText, seedBuild, uniqueName } from "./fixtures/platform";
import { signInThroughUi } from "./fixtures/session";

// Issue 24, "also expected": notifications for finished and failed work on whatever page is open.

test.use({ actionTimeout: 30_000, navigationTimeout: 60_000 });
test.afterAll(closePlatformDb);

test("a toast tells when a build fails or finishes while another page is open", async ({ page }) => {
  const wallet = await signInThroughUi(page);
  const failing = uniqueName("toast-fail");
  const finishing = uniqueName("toast-ok");
  const a = await seedBuild({
    owner: wallet.account.address,
    formfile: formfileText({ name: failing }),
    status: "queued",
  });
  const b = await seedBuild({
    owner: wallet.account.address,
    formfile: formfileText({ name: finishing }),
    status: "queued",
  });
  await page.goto("/nodes");
  // The console has seen both builds queued before they move on.
  await page.waitForResponse((r) => r.url().includes("builds.list") && r.ok());
  await finishSeededBuild(a, { status: "failed", reason: "RUN make exited 2" });
  await finishSeededBuild(b, { status: "built" });
  const failed = page.getByTestId("toast").filter({ hasText: `${failing} failed` });
  await expect(failed).toContainText("RUN make exited 2");
  await expect(failed).toHaveAttribute("data-tone", "error");
  await expect(page.getByTestId("toast").filter({ hasText: `${finishing} is built` })).toBeVisible();
  await failed.getByRole("link", { name: "Open" }).click();
  await page.waitForURL(`**/builds/${a}`);
});
