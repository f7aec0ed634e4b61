import { expect, test } from "@playwright/test";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { closePlatformDb, formfileText, seedBuild, uniqueName } from "./fixtures/platform";
import { screenshot, signInThroughUi } from "./fixtures/session";

// Bounded waits: a missing element or navigation fails in seconds, not at the 15-minute test timeout.
test.use({ actionTimeout: 30_000, navigationTimeout: 60_000 });

// Issue 24, item 6: a missing or foreign resource is "not found", said plainly, once (no retries),
// never raw validation JSON and never "check that the console is running".

test.afterAll(closePlatformDb);

test("unknown, malformed and other users' ids say 'not found' plainly, without retries", async ({
  page,
}, testInfo) => {
  await signInThroughUi(page);
  const calls: string[] = [];
  page.on("request", (r) => {
    const m = /\/api\/trpc\/([^?]+)/.exec(r.url());
    if (m?.[1]) calls.push(...decodeURIComponent(m[1]).split(","));
  });

  await page.goto("/instances/does-not-exist");
  const notFound = page.getByTestId("not-found");
  await expect(notFound).toContainText("No instance does-not-exist");
  await expect(page.locator("main")).not.toContainText("Check that the console is running");
  await expect(page.locator("main")).not.toContainText('"code"');
  await expect(page.getByRole("link", { name: "Your instances" })).toBeVisible();
  await screenshot(page, testInfo, "instance-not-found");

  const missing = "a".repeat(64);
  calls.length = 0;
  await page.goto(`/builds/${missing}`);
  await expect(notFound).toContainText("not found");
  await expect(page.locator("main")).not.toContainText("Check that the console is running");
  await page.waitForLoadState("networkidle");
  expect(calls.filter((c) => c === "builds.get")).toHaveLength(1);

  // Another wallet's build reads exactly like one that does not exist.
  const stranger = privateKeyToAccount(generatePrivateKey());
  const foreign = await seedBuild({
    owner: stranger.address,
    formfile: formfileText({ name: uniqueName("foreign") }),
    status: "built",
  });
  await page.goto(`/builds/${foreign}`);
  await expect(notFound).toContainText("not found");
  await screenshot(page, testInfo, "build-not-found");
});
