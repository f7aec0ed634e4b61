import { expect, test } from "@playwright/test";
import { screenshot, signInThroughUi } from "./fixtures/session";

test.describe("public nodes view", () => {
  test("signed out, /nodes shows the network's nodes without private data; signed in, the operator view", async ({
    page,
  }, testInfo) => {
    await page.goto("/nodes");
    await expect(page.getByRole("heading", { level: 1, name: "Nodes" })).toBeVisible();
    await expect(page.getByTestId("sign-in-prompt")).toHaveCount(0);
    // The platform's own agent may still be starting: wait until it has joined and heartbeats.
    const card = page.getByTestId("public-node-card").first();
    await expect(card).toBeVisible({ timeout: 180_000 });
    await expect(card.getByTestId("node-status")).toHaveText("online", { timeout: 180_000 });
    await expect(card).toContainText(/vCPU \d+\/\d+/);
    await expect(card).toContainText(/Memory \d+\/\d+ MB/);
    await expect(card.getByTestId("public-node-heartbeat")).not.toHaveText("—");
    await expect(page.getByTestId("public-nodes-summary")).toContainText(/\d+ of \d+ nodes? online/);
    // No operator address, formnet address or link to the (signed-in) node page.
    const text = ((await page.getByTestId("public-nodes-list").textContent()) ?? "").toLowerCase();
    // Full or shortened (0x1234…abcd) addresses.
    expect(text).not.toMatch(/0x[0-9a-f]{4}(…|[0-9a-f]{36})/);
    expect(text).not.toContain("operator");
    expect(text).not.toContain("10.42.");
    await expect(card.getByRole("link")).toHaveCount(0);
    await screenshot(page, testInfo, "nodes-public");

    await page.setViewportSize({ width: 390, height: 844 });
    await page.getByRole("button", { name: "Toggle dark mode" }).click();
    await expect(page.locator("html")).toHaveClass(/dark/);
    await screenshot(page, testInfo, "nodes-public-phone-dark");

    await page.setViewportSize({ width: 1280, height: 800 });
    await signInThroughUi(page, { path: "/nodes" });
    await expect(page.getByTestId("node-card").first()).toContainText("operator");
    await expect(page.getByTestId("public-node-card")).toHaveCount(0);
  });
});
