import { join } from "node:path";
import AxeBuilder from "@axe-core/playwright";
import { expect, type Page, test } from "@playwright/test";
import { apiAs, closePlatformDb, deleteAllDeployments, uniqueName } from "./fixtures/platform";
import { signInThroughUi } from "./fixtures/session";
import { shipToTestNode } from "./fixtures/ship";
import { TEST_NODE_CAPACITY, TestNode } from "./fixtures/test-node";

// Every page of the console at desktop (1400 px) and phone (390 px) width: a screenshot in
// playwright/artifacts/pages/ and an axe-core accessibility check (WCAG 2.1 A/AA rules) with no
// serious or critical violation.

test.use({ actionTimeout: 30_000, navigationTimeout: 60_000 });
test.afterAll(closePlatformDb);

const WIDTHS = [1400, 390] as const;
const OUT = join(import.meta.dirname, "artifacts", "pages");

async function checkPage(page: Page, opts: { path: string; name: string }): Promise<string[]> {
  const problems: string[] = [];
  for (const width of WIDTHS) {
    await page.setViewportSize({ width, height: width > 800 ? 900 : 844 });
    await page.goto(opts.path);
    await expect(page.getByRole("heading", { level: 1 }).first()).toBeVisible();
    await expect(page.locator('[aria-busy="true"]')).toHaveCount(0);
    await page.screenshot({ path: join(OUT, `${opts.name}-${width}.png`), fullPage: true });
    const result = await new AxeBuilder({ page })
      .withTags(["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"])
      // xterm.js draws the terminal itself; its helper textarea is labelled by the panel.
      .exclude(".xterm-helper-textarea")
      .analyze();
    for (const v of result.violations) {
      if (v.impact !== "serious" && v.impact !== "critical") continue;
      const targets = v.nodes.slice(0, 3).map((n) => n.target.join(" "));
      problems.push(`${opts.name}@${width}: ${v.id} (${v.impact}) ${v.help} — ${targets.join(" | ")}`);
    }
  }
  return problems;
}

test("signed out: landing, nodes and a gated page — screenshots and no serious a11y violation", async ({
  page,
}) => {
  const problems: string[] = [];
  for (const p of [
    { path: "/", name: "landing-signed-out" },
    { path: "/nodes", name: "nodes-public" },
    { path: "/builds", name: "builds-signed-out" },
  ]) {
    problems.push(...(await checkPage(page, p)));
  }
  await page.goto("/");
  await expect(page.getByTestId("hero-cta").getByRole("button", { name: "Start deploying" })).toBeVisible();
  expect(problems).toEqual([]);
});

test("signed in: every page at 1400 and 390 px — screenshots and no serious a11y violation", async ({
  page,
}) => {
  test.setTimeout(10 * 60_000);
  page.on("dialog", (d) => void d.accept());
  const wallet = await signInThroughUi(page);
  const node = await TestNode.connect({ capacity: TEST_NODE_CAPACITY });
  try {
    const { buildId, instanceId } = await shipToTestNode(page, {
      wallet,
      node,
      name: uniqueName("pages"),
      user: "webdev",
      extra: "EXPOSE 8080",
    });
    const api = apiAs(wallet.account);
    const [deployment] = await api.deployments.list.query({});
    const nodes = await api.nodes.list.query({});
    const realNode = nodes.find((n) => n.nodeId !== node.nodeId && n.status === "online") ?? nodes[0];
    const pages = [
      { path: "/", name: "overview" },
      { path: "/deploy", name: "deploy" },
      { path: "/builds", name: "builds" },
      { path: `/builds/${buildId}`, name: "build" },
      { path: "/instances", name: "instances" },
      { path: `/instances/${instanceId}`, name: "instance" },
      { path: `/deployments/${deployment?.deploymentId ?? "missing"}`, name: "deployment" },
      { path: "/nodes", name: "nodes" },
      { path: `/nodes/${realNode?.nodeId ?? "missing"}`, name: "node" },
      { path: "/network", name: "network" },
      { path: "/account", name: "account" },
      { path: "/instances/does-not-exist", name: "instance-not-found" },
    ];
    const problems: string[] = [];
    for (const p of pages) problems.push(...(await checkPage(page, p)));
    expect(problems).toEqual([]);

    // Copy buttons put the exact value on the clipboard.
    await page.context().grantPermissions(["clipboard-read", "clipboard-write"]);
    await page.setViewportSize({ width: 1400, height: 900 });
    await page.goto(`/builds/${buildId}`);
    await page.getByRole("button", { name: "Copy build id" }).click();
    await expect(page.getByRole("button", { name: "Copy build id" })).toHaveText(/Copied/);
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(buildId);

    // The deployment page lists the builds over time and deletes the deployment (signed, toast).
    await page.goto(`/deployments/${deployment?.deploymentId ?? ""}`);
    await expect(page.getByTestId("deployment-builds")).toContainText("current");
    await page.getByTestId("delete-deployment").click();
    await page.waitForURL(/\/instances$/);
    await expect(page.getByTestId("toast").first()).toContainText("Deleting");
  } finally {
    await deleteAllDeployments(wallet.account);
    await node.close();
  }
});
