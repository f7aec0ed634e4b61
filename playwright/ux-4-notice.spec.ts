import { expect, test } from "@playwright/test";
import {
  apiAs,
  closePlatformDb,
  deleteAllDeployments,
  formfileText,
  largestNodeVcpu,
  seedBuild,
  uniqueName,
} from "./fixtures/platform";
import { screenshot, signInThroughUi } from "./fixtures/session";
import { TEST_NODE_CAPACITY, TestNode } from "./fixtures/test-node";

// Bounded waits: a missing element or navigation fails in seconds, not at the 15-minute test timeout.
test.use({ actionTimeout: 30_000, navigationTimeout: 60_000 });

// Issue 24, item 4: "placed 0 of 1 replicas…" stayed on the build page after the replica ran. The
// page shows the deployment's live state instead: waiting while no node fits, running once a node
// with room joins (the scripted test node) and the replica boots there.

test.afterAll(closePlatformDb);

test("the waiting notice follows the deployment: gone once the replica is placed and runs", async ({
  page,
}, testInfo) => {
  const wallet = await signInThroughUi(page);
  const api = apiAs(wallet.account);
  const vcpu = (await largestNodeVcpu(api)) + 1;
  const buildId = await seedBuild({
    owner: wallet.account.address,
    formfile: formfileText({ name: uniqueName("notice"), vcpu }),
    status: "built",
  });
  await page.goto(`/builds/${buildId}`);
  await page.getByTestId("ship-replicas").fill("1");
  await page.getByTestId("ship-build").click();
  await expect(page.getByText(/placed 0 of 1|0 of 1 replicas placed/).first()).toBeVisible();

  const node = await TestNode.connect({ capacity: TEST_NODE_CAPACITY });
  try {
    // The console's periodic reconcile places the waiting replica on the new node, which boots it.
    await expect(page.getByTestId("deployment-status")).toContainText("1 of 1 replicas running", {
      timeout: 60_000,
    });
    await expect(page.getByText(/placed 0 of 1/)).toHaveCount(0);
    await expect(page.getByText(/waiting for capacity/)).toHaveCount(0);
    await screenshot(page, testInfo, "build-placed-after-wait");
    await deleteAllDeployments(wallet.account);
    await expect
      .poll(async () => (await api.instances.list.query({ buildId })).length, { timeout: 30_000 })
      .toBe(0);
  } finally {
    await node.close();
  }
});
