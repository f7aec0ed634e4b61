import { expect, test } from "@playwright/test";
import { closePlatformDb, deleteAllDeployments, uniqueName } from "./fixtures/platform";
import { screenshot, signInThroughUi } from "./fixtures/session";
import { shipToTestNode } from "./fixtures/ship";
import { TEST_NODE_CAPACITY, TestNode } from "./fixtures/test-node";

// Bounded waits: a missing element or navigation fails in seconds, not at the 15-minute test timeout.
test.use({ actionTimeout: 30_000, navigationTimeout: 60_000 });

// Issue 24, item 5: the app is named everywhere, the SSH hint uses the Formfile's user, and the
// pages link the app's public URL through the console's edge (EXPOSE 8080 → <name>-<app id>.localhost).

test.afterAll(closePlatformDb);

test("instance and build pages name the app, give the Formfile user's ssh command and the app's URL", async ({
  page,
}, testInfo) => {
  const wallet = await signInThroughUi(page);
  const node = await TestNode.connect({ capacity: TEST_NODE_CAPACITY });
  try {
    const name = uniqueName("webapp");
    const { buildId, instanceId } = await shipToTestNode(page, {
      wallet,
      node,
      name,
      user: "webdev",
      extra: "EXPOSE 8080",
    });
    const appUrl = new RegExp(`^http://${name}-[0-9a-f]{8}\\.localhost:\\d+/$`);
    await expect(page.getByTestId("app-url-link")).toHaveAttribute("href", appUrl);

    await page.goto("/instances");
    const table = page.getByTestId("instances-table");
    await expect(table.getByRole("columnheader", { name: "Name" })).toBeVisible();
    await expect(table.getByRole("row").filter({ hasText: instanceId })).toContainText(name);
    await screenshot(page, testInfo, "instances-named");

    await page.goto(`/instances/${instanceId}`);
    await expect(page.getByRole("heading", { level: 1 })).toContainText(name);
    await expect(page.getByTestId("ssh-command")).toHaveText(/^ssh webdev@10\.42\.\d+\.\d+$/);
    await expect(page.getByTestId("app-url-link")).toHaveAttribute("href", appUrl);
    await expect(page.locator(`main a[href="/builds/${buildId}"]`)).toBeVisible();
    await screenshot(page, testInfo, "instance-named");
    await deleteAllDeployments(wallet.account);
  } finally {
    await node.close();
  }
});
