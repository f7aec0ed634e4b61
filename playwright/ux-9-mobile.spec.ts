import { expect, type Page, test } from "@playwright/test";
import { closePlatformDb, formfileText, seedBuild, uniqueName } from "./fixtures/platform";
import { screenshot, signInThroughUi } from "./fixtures/session";

// Bounded waits: a missing element or navigation fails in seconds, not at the 15-minute test timeout.
test.use({ actionTimeout: 30_000, navigationTimeout: 60_000 });

// Issue 24, item 9: at 390 px nothing overflows sideways (long ids wrap or truncate) and the theme
// toggle says what it does.

test.afterAll(closePlatformDb);

function horizontalOverflow(page: Page): Promise<number> {
  return page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
}

test("phone width: build, deploy and list pages fit the screen and the theme toggle is labelled", async ({
  page,
}, testInfo) => {
  await page.setViewportSize({ width: 390, height: 844 });
  const wallet = await signInThroughUi(page);
  const buildId = await seedBuild({
    owner: wallet.account.address,
    formfile: formfileText({ name: uniqueName("a-rather-long-application-name-for-phones") }),
    status: "built",
  });
  for (const path of [`/builds/${buildId}`, "/deploy", "/builds", "/instances", "/nodes", "/account"]) {
    await page.goto(path);
    await expect(page.getByRole("heading", { level: 1 })).toBeVisible();
    await expect(page.locator('[aria-busy="true"]')).toHaveCount(0);
    expect(await horizontalOverflow(page), `${path} overflows`).toBeLessThanOrEqual(0);
  }
  await page.goto(`/builds/${buildId}`);
  await screenshot(page, testInfo, "build-phone");

  const toggle = page.getByRole("button", { name: /dark mode|light mode|theme/i });
  await expect(toggle).toHaveAttribute("title", /mode/i);
  await expect(toggle).toHaveAttribute("aria-pressed", /true|false/);
  await toggle.click();
  await expect(page.locator("html")).toHaveClass(/dark/);
  await expect(toggle).toHaveAttribute("aria-pressed", "true");
});
