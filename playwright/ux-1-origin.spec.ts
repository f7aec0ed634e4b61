import { expect, test } from "@playwright/test";
import { E2E_PORT, formfileText, uniqueName } from "./fixtures/platform";
import { badgeText, typeFormfile } from "./fixtures/session";
import { injectWallet } from "./fixtures/wallet";

// Bounded waits: a missing element or navigation fails in seconds, not at the 15-minute test timeout.
test.use({ actionTimeout: 30_000, navigationTimeout: 60_000 });

// Issue 24, item 1: many people type 127.0.0.1 instead of localhost. Signatures bind the console's
// one origin, so the console sends the browser there before anyone signs in, and signing works.
test("opened at 127.0.0.1, the console moves to its canonical origin before sign-in, and signing works", async ({
  page,
}) => {
  const wallet = await injectWallet(page);
  await page.goto(`http://127.0.0.1:${E2E_PORT}/deploy`);
  await page.waitForURL(`http://localhost:${E2E_PORT}/deploy`);
  await page.getByRole("button", { name: "Sign in with wallet" }).first().click();
  await expect(page.getByTestId("session-address")).toHaveText(badgeText(wallet.account.address));

  // A signed action (build.create) is accepted: the page moves on to the new build.
  await typeFormfile(page, formfileText({ name: uniqueName("origin") }));
  await page.getByRole("checkbox", { name: "Ship when the build succeeds" }).uncheck();
  await page.getByTestId("submit-build").click();
  await page.waitForURL(/\/builds\/[0-9a-f]{64}/);
  await expect(page.getByTestId("build-status")).toBeVisible();
  await expect(page.getByTestId("submit-error")).toHaveCount(0);
  // Do not keep the platform's only real node busy with it.
  if (
    ["queued", "claimed", "building"].includes((await page.getByTestId("build-status").textContent()) ?? "")
  ) {
    page.on("dialog", (d) => void d.accept());
    await page.getByTestId("cancel-build").click();
    await expect(page.getByTestId("build-status")).toHaveText(/cancelled|failed|built/);
  }
});

test("the API refuses sign-in from a foreign origin with a message that names the console's address", async ({
  request,
}) => {
  const res = await request.post("/api/trpc/auth.nonce", {
    headers: { origin: `http://127.0.0.1:${E2E_PORT}`, "content-type": "application/json" },
    data: { json: {} },
  });
  expect(res.status()).toBe(403);
  expect(await res.text()).toContain(`http://localhost:${E2E_PORT}`);
});
