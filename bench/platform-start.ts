/**
 * Issue #2 figures: time from the README's start command to a healthy console (warm install, so
 * the web build and Prisma client are reused), time until the node agent is connected, and the
 * resident memory of the console and agent processes at idle.
 *
 *   npx tsx bench/platform-start.ts [--runs 2] [--idle-seconds 20]
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";

const { values } = parseArgs({
  options: { runs: { type: "string", default: "2" }, "idle-seconds": { type: "string", default: "20" } },
});
const root = new URL("..", import.meta.url).pathname;
const port = 3700;

function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return kb / 1024;
}

function findPid(pattern: RegExp): number | null {
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, "utf8").replaceAll("\0", " ");
      if (pattern.test(cmdline)) return Number(entry);
    } catch {
      // The process ended while we looked.
    }
  }
  return null;
}

async function waitFor<T>(
  what: string,
  probe: () => Promise<T | null> | T | null,
  timeoutMs: number,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await probe();
    if (value !== null) return value;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function oneRun(dataDir: string, idleSeconds: number) {
  const started = performance.now();
  let agentConnectedAt: number | null = null;
  const child = spawn(process.execPath, ["scripts/start.mjs"], {
    cwd: root,
    env: { ...process.env, PORT: String(port), CHAIN_PORT: String(port + 1), FORMATION_DATA_DIR: dataDir },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout.setEncoding("utf8");
  child.stdout.on("data", (chunk: string) => {
    if (agentConnectedAt === null && chunk.includes("connected to console"))
      agentConnectedAt = performance.now();
  });
  try {
    const healthyAt = await waitFor(
      "a healthy console",
      async () => {
        const res = await fetch(`http://localhost:${port}/healthz`).catch(() => null);
        return res?.ok ? performance.now() : null;
      },
      600_000,
    );
    const connectedAt = await waitFor("the agent to connect", () => agentConnectedAt, 600_000);
    await new Promise((r) => setTimeout(r, idleSeconds * 1000));
    const consolePid = findPid(/exit-with-parent\.mjs server\/main\.ts/);
    const agentPid = findPid(/node-agent\/bin\.mjs run/);
    return {
      healthyS: (healthyAt - started) / 1000,
      agentConnectedS: (connectedAt - started) / 1000,
      consoleRssMb: consolePid ? rssMb(consolePid) : Number.NaN,
      agentRssMb: agentPid ? rssMb(agentPid) : Number.NaN,
    };
  } finally {
    child.kill("SIGINT");
    await new Promise((r) => child.once("exit", r));
  }
}

async function main() {
  const runs = Number(values.runs);
  const idleSeconds = Number(values["idle-seconds"]);
  const dataDir = mkdtempSync(join(tmpdir(), "formation-bench-start-"));
  try {
    for (let i = 0; i < runs; i++) {
      const r = await oneRun(dataDir, idleSeconds);
      process.stdout.write(
        `run ${i + 1} (${i === 0 ? "fresh data dir" : "restart, same data"}): healthy console ${r.healthyS.toFixed(1)} s, agent connected ${r.agentConnectedS.toFixed(1)} s, idle RSS console ${r.consoleRssMb.toFixed(0)} MiB, agent ${r.agentRssMb.toFixed(0)} MiB\n`,
      );
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
