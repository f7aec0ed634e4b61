/**
 * Control-plane scale benchmark: N lightweight protocol agents (one process) against one console
 * (a child process, so its memory and CPU are measured alone). Agents heartbeat at the console's
 * interval; the bench enqueues targeted jobs at a steady rate and measures job-offer latency
 * (enqueue on the console → offer received by the agent) while the heartbeats run.
 *
 *   ulimit -n 65536; npx tsx bench/control-plane-bench.ts [agents=1000] [seconds=30] [jobsPerSecond=20]
 *
 * Each agent holds one socket in this process and one in the console, so 5,000 agents need more
 * than the common 1,024 open files (Node cannot raise its own limit: raise it in the shell).
 * BENCH_JOIN_CONCURRENCY (default 64) agents handshake at a time; BENCH_CPU_PROFILE=FILE writes a
 * CPU profile of the console's steady state.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { BenchAgent, type TBenchCounters } from "./control-plane-bench-agent";

const agentsWanted = Number(process.argv[2] ?? 1000);
const seconds = Number(process.argv[3] ?? 30);
const jobsPerSecond = Number(process.argv[4] ?? 20);
const joinConcurrency = Number(process.env.BENCH_JOIN_CONCURRENCY ?? 64);
const now = () => performance.timeOrigin + performance.now();
const print = (s: string) => process.stdout.write(`${s}\n`);

const dir = mkdtempSync(path.join(os.tmpdir(), "formation-cp-bench-"));
const operator = privateKeyToAccount(generatePrivateKey());
const child = spawn(process.execPath, ["--import", "tsx", "bench/control-plane-console.ts"], {
  env: {
    ...process.env,
    NODE_ENV: "production",
    LOG_LEVEL: process.env.LOG_LEVEL ?? "warn",
    DATABASE_URL: `file:${path.join(dir, "console.db")}`,
    FORMATION_DATA_DIR: dir,
    CONSOLE_ORIGIN: "http://bench.console",
    FORMATION_AGENT_ALLOWLIST: operator.address,
    FORMATION_HEARTBEAT_MS: "5000",
    FORMATION_HANDSHAKE_MS: "60000",
  },
  stdio: ["pipe", "pipe", "inherit"],
});
// Never leave the console child behind, even when the bench itself fails.
process.on("exit", () => child.kill());
const pending = new Map<string, (v: Record<string, unknown>) => void>();
createInterface({ input: child.stdout }).on("line", (line) => {
  if (!line.startsWith('{"op"')) return;
  const msg = JSON.parse(line) as Record<string, unknown>;
  const waiter = pending.get(String(msg.op));
  pending.delete(String(msg.op));
  waiter?.(msg);
});
function ask(op: string, cmd: Record<string, unknown> = {}, reply = op): Promise<Record<string, unknown>> {
  return new Promise((resolve) => {
    pending.set(reply, resolve);
    if (op !== "ready") child.stdin.write(`${JSON.stringify({ op, ...cmd })}\n`);
  });
}

const ready = await ask("ready");
const url = String(ready.url);
const base = await ask("stats");
print(`console up at ${url}; idle RSS ${(Number(base.rss) / 2 ** 20).toFixed(0)} MiB`);

const received = new Map<string, number>();
const counters: TBenchCounters = { heartbeats: 0, peerFrames: 0, peerBytes: 0, offers: 0 };
const agents: BenchAgent[] = [];
const joinMs: number[] = [];
const joinStats0 = await ask("stats");
const connectStart = Date.now();
let nextAgent = 0;
let lastReport = 0;
// A pool of `joinConcurrency` handshakes in flight: a join storm, as after a console restart.
async function joiner(): Promise<void> {
  while (nextAgent < agentsWanted) {
    nextAgent++;
    const t = now();
    agents.push(
      await BenchAgent.connect({
        url,
        account: operator,
        counters,
        timeoutMs: 120_000,
        onOffer: (jobId) => received.set(jobId, now()),
      }),
    );
    joinMs.push(now() - t);
    if (agents.length - lastReport >= Math.max(500, agentsWanted / 10)) {
      lastReport = agents.length;
      print(`  ${agents.length} connected after ${((Date.now() - connectStart) / 1000).toFixed(1)} s`);
    }
  }
}
await Promise.all(Array.from({ length: Math.min(joinConcurrency, agentsWanted) }, () => joiner()));
const connectSeconds = (Date.now() - connectStart) / 1000;
const joinStats1 = await ask("stats");
joinMs.sort((x, y) => x - y);
const q = (xs: number[], p: number) =>
  xs[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))] ?? Number.NaN;
const cpuPct = (a: Record<string, unknown>, b: Record<string, unknown>, seconds: number) =>
  (
    ((Number(b.cpuUserMs) + Number(b.cpuSystemMs) - Number(a.cpuUserMs) - Number(a.cpuSystemMs)) /
      (seconds * 1000)) *
    100
  ).toFixed(0);
const mib = (x: unknown) => (Number(x) / 2 ** 20).toFixed(0);
print(
  `${agents.length} agents joined in ${connectSeconds.toFixed(1)} s (${(agents.length / connectSeconds).toFixed(0)}/s, ` +
    `${joinConcurrency} at a time; handshake p50 ${q(joinMs, 50).toFixed(0)} ms p99 ${q(joinMs, 99).toFixed(0)} ms); ` +
    `console CPU ${cpuPct(joinStats0, joinStats1, connectSeconds)}% of one core, RSS ${mib(joinStats1.rss)} MiB; ` +
    `${counters.peerFrames} peer frames (${(counters.peerBytes / 2 ** 20).toFixed(0)} MiB) received`,
);
// Let every agent's first heartbeat happen (they start at a random phase within one interval).
await new Promise((resolve) => setTimeout(resolve, 5500));

// BENCH_CPU_PROFILE=file.cpuprofile profiles the console during the steady-state phase.
const profileFile = process.env.BENCH_CPU_PROFILE;
if (profileFile) await ask("profile");
const cpuBefore = await ask("stats");
const t0 = Date.now();
const sent: { jobId: string; t0: number }[] = [];
const tickMs = 250;
const perTick = Math.max(1, Math.round((jobsPerSecond * tickMs) / 1000));
while (Date.now() - t0 < seconds * 1000) {
  const nodeIds = Array.from(
    { length: perTick },
    () => agents[Math.floor(Math.random() * agents.length)]?.nodeId ?? "",
  );
  const r = await ask("enqueue", { nodeIds }, "enqueued");
  sent.push(...(r.jobs as { jobId: string; t0: number }[]));
  await new Promise((resolve) => setTimeout(resolve, tickMs));
}
// Let the last offers arrive (bounded wait).
const drainUntil = Date.now() + 5000;
while (sent.some((s) => !received.has(s.jobId)) && Date.now() < drainUntil) {
  await new Promise((resolve) => setTimeout(resolve, 50));
}
const after = await ask("stats");
if (profileFile) {
  await ask("profile", { file: path.resolve(profileFile) });
  print(`console CPU profile of the steady state written to ${profileFile}`);
}
const lat = sent
  .map((s) => (received.get(s.jobId) ?? Number.NaN) - s.t0)
  .filter((x) => Number.isFinite(x))
  .sort((a, b) => a - b);
const elapsed = (Date.now() - t0) / 1000;
const beats = Number(after.heartbeats) - Number(cpuBefore.heartbeats);

print(`agents connected (console view): ${after.connected}`);
print(
  `heartbeats handled by the console: ${(beats / elapsed).toFixed(0)}/s (expected ${(agents.length / 5).toFixed(0)}/s at one per 5 s)`,
);
print(`jobs: ${sent.length} enqueued, ${lat.length} offers received (${sent.length - lat.length} missing)`);
print(
  `offer latency ms: p50 ${q(lat, 50).toFixed(1)}  p90 ${q(lat, 90).toFixed(1)}  p99 ${q(lat, 99).toFixed(1)}  max ${(lat.at(-1) ?? Number.NaN).toFixed(1)}`,
);
print(
  `console RSS ${mib(after.rss)} MiB (peak ${mib(after.maxRss)} MiB), heap ${mib(after.heapUsed)} MiB; ` +
    `event-loop delay p99 ${Number(after.loopP99Ms).toFixed(1)} ms max ${Number(after.loopMaxMs).toFixed(1)} ms`,
);
print(
  `console CPU ${cpuPct(cpuBefore, after, elapsed)}% of one core over ${elapsed.toFixed(0)} s (steady state)`,
);

await Promise.all(agents.map((a) => a.close()));
child.stdin.write(`${JSON.stringify({ op: "exit" })}\n`);
await new Promise((resolve) => child.once("exit", resolve));
rmSync(dir, { recursive: true, force: true });
process.exit(0);
