import { expect, test } from "@playwright/test";
import { injectWallet } from "./fixtures/wallet";

test.describe("wallet sign-in", () => {
  test("signs in with an injected wallet, survives a reload, and drops the session on account change", async ({
    page,
  }, testInfo) => {
    const wallet = await injectWallet(page);
    await page.goto("/");
    await page.getByRole("button", { name: "Sign in with wallet" }).click();
    const badge = page.getByTestId("session-address");
    await expect(badge).toHaveText(
      `${wallet.account.address.slice(0, 6)}…${wallet.account.address.slice(-4)}`,
    );
    await page.screenshot({ path: testInfo.outputPath("signed-in.png"), fullPage: true });

    await page.reload();
    await expect(badge).toBeVisible();

    await wallet.switchAccount(page);
    await expect(page.getByRole("button", { name: "Sign in with wallet" })).toBeVisible();
    await expect(badge).toHaveCount(0);
  });

  test("sign-out revokes the session cookie", async ({ page, context }) => {
    await injectWallet(page);
    await page.goto("/");
    await page.getByRole("button", { name: "Sign in with wallet" }).click();
    await expect(page.getByTestId("session-address")).toBeVisible();
    const cookie = (await context.cookies()).find((c) => c.name === "formation_session");
    expect(cookie?.httpOnly).toBe(true);
    await page.getByRole("button", { name: "Sign out" }).click();
    await expect(page.getByRole("button", { name: "Sign in with wallet" })).toBeVisible();
    // The old token no longer authenticates, even if a client kept it.
    const me = await page.request.get("/api/trpc/auth.me?input=%7B%22json%22%3A%7B%7D%7D", {
      headers: { cookie: `formation_session=${cookie?.value ?? ""}` },
    });
    expect(await me.text()).toContain('"json":null');
  });
});
