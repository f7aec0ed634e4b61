/**
 * Control-plane scale benchmark: N lightweight protocol agents (one process) against one console
 * (a child process, so its memory and CPU are measured alone). Agents heartbeat at the console's
 * interval; the bench enqueues targeted jobs at a steady rate and measures job-offer latency
 * (enqueue on the console → offer received by the agent) while the heartbeats run.
 *
 *   npx tsx bench/control-plane-bench.ts [agents=1000] [seconds=30] [jobsPerSecond=20]
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { FakeAgent } from "@/server/testing/fake-agent";

const agentsWanted = Number(process.argv[2] ?? 1000);
const seconds = Number(process.argv[3] ?? 30);
const jobsPerSecond = Number(process.argv[4] ?? 20);
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
const agents: FakeAgent[] = [];
const connectStart = Date.now();
// Agents join in batches of 25 (a join storm is not what this bench measures).
for (let i = 0; i < agentsWanted; i += 25) {
  const batch = Array.from({ length: Math.min(25, agentsWanted - i) }, () =>
    FakeAgent.connect({
      url,
      account: operator,
      timeoutMs: 60_000,
      onOffer: (offer, agent) => {
        received.set(offer.jobId, now());
        agent.send({ type: "job.ack", jobId: offer.jobId });
        agent.send({ type: "job.complete", jobId: offer.jobId, result: { kind: "restart" } });
      },
    }),
  );
  agents.push(...(await Promise.all(batch)));
  if (agents.length % 500 === 0)
    print(`  ${agents.length} connected after ${((Date.now() - connectStart) / 1000).toFixed(0)} s`);
}
const connectSeconds = (Date.now() - connectStart) / 1000;
print(`${agents.length} agents connected in ${connectSeconds.toFixed(1)} s`);

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
const lat = sent
  .map((s) => (received.get(s.jobId) ?? Number.NaN) - s.t0)
  .filter((x) => Number.isFinite(x))
  .sort((a, b) => a - b);
const pct = (p: number) => lat[Math.min(lat.length - 1, Math.floor((p / 100) * lat.length))] ?? Number.NaN;
const elapsed = (Date.now() - t0) / 1000;
const cpuMs =
  Number(after.cpuUserMs) +
  Number(after.cpuSystemMs) -
  Number(cpuBefore.cpuUserMs) -
  Number(cpuBefore.cpuSystemMs);

print(`agents connected (console view): ${after.connected}`);
print(`heartbeats: every 5 s per agent ≈ ${(agents.length / 5).toFixed(0)} msg/s`);
print(`jobs: ${sent.length} enqueued, ${lat.length} offers received (${sent.length - lat.length} missing)`);
print(
  `offer latency ms: p50 ${pct(50).toFixed(1)}  p90 ${pct(90).toFixed(1)}  p99 ${pct(99).toFixed(1)}  max ${(lat.at(-1) ?? Number.NaN).toFixed(1)}`,
);
print(
  `console RSS ${(Number(after.rss) / 2 ** 20).toFixed(0)} MiB, heap ${(Number(after.heapUsed) / 2 ** 20).toFixed(0)} MiB`,
);
print(
  `console CPU ${((cpuMs / (elapsed * 1000)) * 100).toFixed(0)}% of one core over ${elapsed.toFixed(0)} s`,
);

await Promise.all(agents.map((a) => a.kill()));
child.stdin.write(`${JSON.stringify({ op: "exit" })}\n`);
await new Promise((resolve) => child.once("exit", resolve));
rmSync(dir, { recursive: true, force: true });
process.exit(0);
