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
import { signInThroughUi, typeFormfile } from "./fixtures/session";
import { injectWallet } from "./fixtures/wallet";

// Bounded waits: a missing element or navigation fails in seconds, not at the 15-minute test timeout.
test.use({ actionTimeout: 30_000, navigationTimeout: 60_000 });

// Issue 24, item 2: a URL never triggers a signed action, and the deploy flow's state is not in
// the address bar. Builds are seeded as finished (no VM build) with more vCPU than any node has,
// so a ship (if one happened) places nothing on the platform's real node.

test.afterAll(closePlatformDb);

test("the deploy flow leaves a plain build link, and reopening an old ?ship=1 link signs nothing", async ({
  page,
}) => {
  const wallet = await signInThroughUi(page, { path: "/deploy" });
  await typeFormfile(page, formfileText({ name: uniqueName("links") }));
  await page.getByTestId("replicas-input").fill("1");
  await page.getByRole("checkbox", { name: "Ship when the build succeeds" }).check();
  await page.getByTestId("submit-build").click();
  await page.waitForURL(/\/builds\/[0-9a-f]{64}/);
  expect(new URL(page.url()).search).toBe("");
  page.on("dialog", (d) => void d.accept());
  if (
    ["queued", "claimed", "building"].includes((await page.getByTestId("build-status").textContent()) ?? "")
  ) {
    await page.getByTestId("cancel-build").click();
    await expect(page.getByTestId("build-status")).toHaveText(/cancelled|failed|built/);
  }

  const api = apiAs(wallet.account);
  const vcpu = (await largestNodeVcpu(api)) + 1;
  const name = uniqueName("reopen");
  const buildId = await seedBuild({
    owner: wallet.account.address,
    formfile: formfileText({ name, vcpu }),
    status: "built",
  });
  const before = wallet.signatures.length;
  // The URL the old deploy flow left in the address bar, opened again (reload, history, a link).
  await page.goto(`/builds/${buildId}?replicas=1&ship=1`);
  await expect(page.getByTestId("build-status")).toHaveText("built");
  await expect(page.getByTestId("ship-build")).toBeEnabled();
  await page.waitForLoadState("networkidle");
  expect(wallet.signatures.slice(before)).toEqual([]);
  expect((await api.instances.deployments.query()).map((d) => d.name)).not.toContain(name);
  await deleteAllDeployments(wallet.account);
});

test("a signed-in page whose wallet has not reconnected yet still ships (no 'Connect your wallet')", async ({
  page,
  browser,
}) => {
  const wallet = await signInThroughUi(page);
  const api = apiAs(wallet.account);
  const vcpu = (await largestNodeVcpu(api)) + 1;
  const name = uniqueName("reconnect");
  const buildId = await seedBuild({
    owner: wallet.account.address,
    formfile: formfileText({ name, vcpu }),
    status: "built",
  });

  // Same session cookie, fresh browser storage: wagmi has no remembered connection.
  const context = await browser.newContext({
    storageState: { cookies: await page.context().cookies(), origins: [] },
  });
  const other = await context.newPage();
  await injectWallet(other, { privateKey: wallet.privateKey });
  await other.goto(`/builds/${buildId}`);
  await expect(other.getByTestId("session-address")).toBeVisible();
  await other.getByTestId("ship-replicas").fill("1");
  await other.getByTestId("ship-build").click();
  await expect(other.getByTestId("deployment-status")).toContainText("0 of 1");
  await expect(other.getByText(/Connect your wallet/)).toHaveCount(0);
  expect((await api.instances.deployments.query()).map((d) => d.name)).toContain(name);
  await context.close();
  await deleteAllDeployments(wallet.account);
});
