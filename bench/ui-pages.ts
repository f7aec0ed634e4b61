/**
 * Page load times of the console's main pages in Debian's Chromium (playwright-core), against a
 * platform you started (`npm start`, or `node scripts/start.mjs`). For each page: the first visit
 * after sign-in ("cold": in dev mode this includes Next compiling the route) and the median of
 * five later visits ("warm"), measured from navigation to the page heading being visible with no
 * loading skeleton left (i.e. data loaded through tRPC).
 *
 *   CONSOLE_URL=http://localhost:3000 npx tsx bench/ui-pages.ts
 */
import { chromium } from "playwright-core";
import { injectWallet } from "../playwright/fixtures/wallet";

const base = process.env.CONSOLE_URL ?? "http://localhost:3000";
const PAGES = [
  { path: "/", heading: "Overview" },
  { path: "/deploy", heading: "New deployment" },
  { path: "/builds", heading: "Builds" },
  { path: "/instances", heading: "Instances" },
  { path: "/nodes", heading: "Nodes" },
  { path: "/network", heading: "Network" },
  { path: "/account", heading: "Account" },
];
const WARM_RUNS = 5;

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
};

async function main(): Promise<void> {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--no-first-run",
      "--disable-background-networking",
    ],
  });
  try {
    const context = await browser.newContext({ baseURL: base });
    const page = await context.newPage();
    // tsx compiles with esbuild's keepNames, which wraps functions in `__name(...)`; the wallet's
    // init script is serialised into the page, where that helper must exist too.
    await page.addInitScript({ content: "globalThis.__name = (fn) => fn;" });
    await injectWallet(page);
    await page.goto("/");
    await page.getByRole("button", { name: "Sign in with wallet" }).click();
    await page.getByTestId("session-address").waitFor({ timeout: 60_000 });

    const load = async (path: string, heading: string): Promise<number> => {
      const started = performance.now();
      await page.goto(path);
      await page.getByRole("heading", { level: 1, name: heading }).waitFor({ timeout: 120_000 });
      await page.locator('[aria-busy="true"]').first().waitFor({ state: "detached", timeout: 60_000 });
      return performance.now() - started;
    };

    const rows: string[] = [];
    for (const p of PAGES) {
      const cold = await load(p.path, p.heading);
      const warm: number[] = [];
      for (let i = 0; i < WARM_RUNS; i++) warm.push(await load(p.path, p.heading));
      rows.push(
        `| ${p.path} | ${cold.toFixed(0)} | ${median(warm).toFixed(0)} | ${Math.min(...warm).toFixed(0)} |`,
      );
    }
    process.stdout.write(
      `console ${base}\n\n| page | cold ms | warm median ms | warm min ms |\n|---|---|---|---|\n`,
    );
    process.stdout.write(`${rows.join("\n")}\n`);
  } finally {
    await browser.close();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
