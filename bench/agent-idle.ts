/**
 * Node agent idle footprint: resident memory and CPU of the real daemon (`node-agent/bin.mjs run`)
 * connected to a real in-process console, after N heartbeats with no jobs and no VMs.
 *   npx tsx bench/agent-idle.ts [--heartbeats 10] [--interval-ms 1000] [--runs 3]
 * Also reports the time from spawn to "connected to console" (includes tsx start-up, keystore
 * scrypt unlock, host preflight and formnet interface bring-up). Needs root and wireguard-go.
 */
import { execFileSync } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { readStatusFile } from "@/node-agent/config/status-file";
import { parseVmRssKb } from "@/node-agent/metrics/proc-parse";
import { writeTestAgentConfig } from "@/node-agent/testing/agent-config";
import { startAgentProcess } from "@/node-agent/testing/start-agent-process";
import { startTestPlatform } from "@/server/testing/platform";

const { values } = parseArgs({
  options: { heartbeats: { type: "string" }, "interval-ms": { type: "string" }, runs: { type: "string" } },
});
const HEARTBEATS = Number(values.heartbeats ?? 10);
const INTERVAL_MS = Number(values["interval-ms"] ?? 1000);
const RUNS = Number(values.runs ?? 3);
const password = "bench-password-1234";

/** utime + stime of a process in clock ticks (USER_HZ is 100 on Linux). */
async function cpuTicks(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(fields[11]) + Number(fields[12]);
}

async function waitForHeartbeats(statusPath: string, count: number): Promise<void> {
  const seen = new Set<string>();
  const deadline = Date.now() + count * INTERVAL_MS * 3 + 30_000;
  while (seen.size < count) {
    if (Date.now() > deadline) throw new Error(`only ${seen.size} heartbeats before the deadline`);
    const at = (await readStatusFile(statusPath))?.lastHeartbeatAt;
    if (at) seen.add(at);
    await new Promise((resolve) => setTimeout(resolve, INTERVAL_MS / 4));
  }
}

async function once(): Promise<{ connectMs: number; rssMb: number; cpuPct: number }> {
  const privateKey = generatePrivateKey();
  const account = privateKeyToAccount(privateKey);
  const platform = await startTestPlatform({
    operators: [account.address],
    config: { heartbeatIntervalMs: INTERVAL_MS, offlineAfterMs: INTERVAL_MS * 5, leaseMs: 30_000 },
  });
  const dataDir = await mkdtemp(join(tmpdir(), "agent-bench-"));
  let iface: string | null | undefined;
  try {
    const { configPath } = await writeTestAgentConfig({
      dataDir,
      consoleUrl: platform.url,
      privateKey,
      password,
    });
    const started = performance.now();
    const agent = await startAgentProcess({ configPath, password, env: { LOG_LEVEL: "info" } });
    const connectMs = performance.now() - started;
    try {
      const statusPath = join(dataDir, "status.json");
      await waitForHeartbeats(statusPath, 2);
      const ticks0 = await cpuTicks(agent.pid);
      const t0 = performance.now();
      await waitForHeartbeats(statusPath, HEARTBEATS);
      const ticks1 = await cpuTicks(agent.pid);
      const seconds = (performance.now() - t0) / 1000;
      const rssKb = parseVmRssKb(await readFile(`/proc/${agent.pid}/status`, "utf8"));
      iface = (await readStatusFile(statusPath))?.formnet.interface;
      return { connectMs, rssMb: rssKb / 1024, cpuPct: ((ticks1 - ticks0) / 100 / seconds) * 100 };
    } finally {
      await agent.stop();
    }
  } finally {
    if (iface) execFileSync("ip", ["link", "del", iface], { stdio: "ignore" });
    await platform.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}

const results = [];
for (let run = 1; run <= RUNS; run += 1) results.push(await once());
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;
const lines = [
  `node agent idle (${HEARTBEATS} heartbeats at ${INTERVAL_MS} ms, ${RUNS} runs, no VMs, formnet up)`,
  "",
  "| run | spawn → connected (ms) | VmRSS (MiB) | CPU (% of one core) |",
  "| --- | ---: | ---: | ---: |",
  ...results.map(
    (r, i) => `| ${i + 1} | ${r.connectMs.toFixed(0)} | ${r.rssMb.toFixed(1)} | ${r.cpuPct.toFixed(2)} |`,
  ),
  `| median | ${median(results.map((r) => r.connectMs)).toFixed(0)} | ${median(results.map((r) => r.rssMb)).toFixed(1)} | ${median(results.map((r) => r.cpuPct)).toFixed(2)} |`,
];
process.stdout.write(`${lines.join("\n")}\n`);
process.exit(0);
