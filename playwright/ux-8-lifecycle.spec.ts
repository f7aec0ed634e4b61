import { expect, type Page, test } from "@playwright/test";
import { closePlatformDb, deleteAllDeployments, uniqueName } from "./fixtures/platform";
import { acceptConfirms, screenshot, signInThroughUi } from "./fixtures/session";
import { shipToTestNode } from "./fixtures/ship";
import { TEST_NODE_CAPACITY, TestNode } from "./fixtures/test-node";

// Bounded waits: a missing element or navigation fails in seconds, not at the 15-minute test timeout.
test.use({ actionTimeout: 30_000, navigationTimeout: 60_000 });

// Issue 24, item 8: a stop goes stopping → stopped (never back to "running" while the VM shuts
// down), a deleted replica says "deleting" until its node removed it, and the serial log keeps its
// backlog across a restart, marked. The scripted test node holds the stop and the delete so the
// in-between states are observable.

test.afterAll(closePlatformDb);

/** Records every text the element with `testId` shows from now on (MutationObserver in the page). */
async function recordTexts(page: Page, testId: string): Promise<() => Promise<string[]>> {
  await page.evaluate((id) => {
    const w = window as unknown as { __texts: string[] };
    w.__texts = [];
    const push = () => {
      const text = document.querySelector(`[data-testid="${id}"]`)?.textContent ?? "";
      if (w.__texts.at(-1) !== text) w.__texts.push(text);
    };
    push();
    new MutationObserver(push).observe(document.body, {
      subtree: true,
      childList: true,
      characterData: true,
    });
  }, testId);
  return () => page.evaluate(() => (window as unknown as { __texts: string[] }).__texts);
}

test("stop, restart and delete show only true states, and the serial log keeps its backlog", async ({
  page,
}, testInfo) => {
  acceptConfirms(page);
  const wallet = await signInThroughUi(page);
  const node = await TestNode.connect({ capacity: TEST_NODE_CAPACITY });
  try {
    const { instanceId } = await shipToTestNode(page, { wallet, node, name: uniqueName("life") });
    await page.goto(`/instances/${instanceId}`);
    const status = page.getByTestId("instance-status");
    await expect(status).toHaveText("running");
    await expect(page.getByTestId("serial-log")).toContainText("boot 1 reached");
    // A running instance offers Suspend beside Stop (a stop that keeps the guest's memory).
    await expect(page.getByRole("button", { name: "Suspend", exact: true })).toBeVisible();

    // Stop: the node keeps reporting the VM running until the guest is down.
    node.held.add("stop");
    const texts = await recordTexts(page, "instance-status");
    await page.getByRole("button", { name: "Stop", exact: true }).click();
    await expect(status).toHaveText("stopping");
    // The node sent its "running" report with the job's ack; let the page read the instance twice
    // more before the node finishes the stop.
    for (let i = 0; i < 2; i++) await page.waitForResponse((r) => r.url().includes("instances.get"));
    await node.release("stop");
    await expect(status).toHaveText("stopped");
    const seen = await texts();
    expect(seen.slice(seen.indexOf("stopping"))).toEqual(["stopping", "stopped"]);
    await screenshot(page, testInfo, "instance-stopped");

    // Start, then restart: the serial log of the earlier boot stays, with a marker.
    await page.getByRole("button", { name: "Start", exact: true }).click();
    await expect(status).toHaveText("running");
    await page.getByRole("button", { name: "Restart", exact: true }).click();
    const log = page.getByTestId("serial-log");
    await expect(log).toContainText("boot 3 reached", { timeout: 30_000 });
    await expect(log).toContainText("boot 1 reached");
    await expect(log).toContainText(/log restarted/i);
    await screenshot(page, testInfo, "instance-restarted");

    // Delete: the list says "deleting" until the node has deleted the VM, then drops the row.
    node.held.add("delete");
    await page.getByTestId("delete-instance").click();
    await page.waitForURL(/\/instances$/);
    const row = page.getByTestId("instances-table").getByRole("row").filter({ hasText: instanceId });
    await expect(row).toContainText("deleting");
    await expect(row).not.toContainText("running");
    await screenshot(page, testInfo, "instances-deleting");
    await node.release("delete");
    await expect(row).toHaveCount(0);
    await deleteAllDeployments(wallet.account);
  } finally {
    await node.close();
  }
});
