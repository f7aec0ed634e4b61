/**
 * Console process driven by bench/control-plane-bench.ts: API + agent gateway only, on the database
 * and data dir from the environment. Reads JSON commands on stdin, answers JSON lines on stdout:
 *   {"op":"enqueue","nodeIds":[…]}  → {"op":"enqueued","jobs":[{"jobId","t0"}]} (t0 = epoch ms, sub-ms)
 *   {"op":"stats"}                  → {"op":"stats","rss","maxRss","heapUsed","cpuUserMs","cpuSystemMs",
 *                                       "connected","heartbeats","loopP99Ms","loopMaxMs"} (loop delay since
 *                                       the previous stats call)
 *   {"op":"profile","file"?}        → starts a CPU profile, or (with file) stops it and writes it there
 *                                       (open in Chrome DevTools); answers {"op":"profile"}
 */
import { randomUUID } from "node:crypto";
import { writeFileSync } from "node:fs";
import { Session } from "node:inspector/promises";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { createInterface } from "node:readline";
import { createLogger } from "@/core/log";
import { controlPlaneModule } from "@/server/gateway/module";
import { startConsole } from "@/server/http/console-server";

const now = () => performance.timeOrigin + performance.now();
const out = (o: unknown) => process.stdout.write(`${JSON.stringify(o)}\n`);

const running = await startConsole({
  withNext: false,
  port: 0,
  logger: createLogger("bench-console"),
  modules: [controlPlaneModule()],
});
const cp = running.runtime.services;
// Count heartbeats as the console handles them (the rate the bench reports is the console's view).
let heartbeats = 0;
const heartbeat = cp.nodes.heartbeat.bind(cp.nodes);
cp.nodes.heartbeat = (nodeId, beat) => {
  heartbeats++;
  heartbeat(nodeId, beat);
};
const inspector = new Session();
inspector.connect();
const loop = monitorEventLoopDelay({ resolution: 10 });
loop.enable();
out({ op: "ready", url: running.url });

for await (const line of createInterface({ input: process.stdin })) {
  const cmd = JSON.parse(line) as { op: string; nodeIds?: string[]; file?: string };
  if (cmd.op === "enqueue") {
    const jobs: { jobId: string; t0: number }[] = [];
    await Promise.all(
      (cmd.nodeIds ?? []).map(async (nodeId) => {
        const t0 = now();
        const job = await cp.jobs.enqueue({
          kind: "restart",
          payload: { instanceId: `i-${randomUUID().replace(/-/g, "").slice(0, 20)}` },
          nodeId,
          idempotencyKey: randomUUID(),
        });
        jobs.push({ jobId: job.id, t0 });
      }),
    );
    out({ op: "enqueued", jobs });
  } else if (cmd.op === "stats") {
    const m = process.memoryUsage();
    const c = process.cpuUsage();
    out({
      op: "stats",
      rss: m.rss,
      maxRss: process.resourceUsage().maxRSS * 1024,
      heapUsed: m.heapUsed,
      cpuUserMs: c.user / 1000,
      cpuSystemMs: c.system / 1000,
      connected: cp.agents.size,
      heartbeats,
      loopP99Ms: loop.percentile(99) / 1e6,
      loopMaxMs: loop.max / 1e6,
    });
    loop.reset();
  } else if (cmd.op === "profile") {
    if (cmd.file) {
      const { profile } = await inspector.post("Profiler.stop");
      writeFileSync(cmd.file, JSON.stringify(profile));
    } else {
      await inspector.post("Profiler.enable");
      await inspector.post("Profiler.start");
    }
    out({ op: "profile" });
  } else if (cmd.op === "exit") {
    await running.close();
    process.exit(0);
  }
}
