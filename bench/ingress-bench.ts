/**
 * Ingress benchmark (issue #19): the README example's 3 replicas on `FORMATION_NODES=4` (each on
 * a node host behind NAT), reached from the console's host.
 *   npx tsx bench/ingress-bench.ts [--requests 1000] [--seconds 10] [--concurrency 8] [--rate 5]
 * Starts the multinode platform with the README's start command (or attaches to the one named by
 * FORMATION_TEST_MULTINODE), ships the example, then prints:
 * - edge overhead: the same client on the console host GETs the app directly over formnet (from
 *   the console's formnet address, round-robin over the 3 VMs) and through the edge
 *   (`http://<name>-<app id>.localhost:<port>/`, which crosses the same WireGuard): p50/p99 of
 *   sequential requests on a keep-alive connection, and requests/s at a fixed concurrency;
 * - failover: a steady stream of GETs (a new connection each, as separate visitors) through the
 *   edge while one replica's host is killed: failed requests, the requests that were slowed down,
 *   and how long after the crash latency is back to normal.
 * Needs root, QEMU, wireguard-go, mmdebstrap (a warm /var/cache/formation makes the build a hit).
 */
import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { Agent, request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs, promisify } from "node:util";
import { jsonOf, runForm } from "@/cli/testing";
import { waitFor } from "@/core/formnet/command";
import { readStatusFile } from "@/node-agent/config/status-file";
import { setUpExampleProject } from "@/scripts/lib/example-project";
import {
  consoleMemberInterface,
  useMultinodePlatform as startMultinodePlatform,
} from "@/scripts/lib/multinode-test-platform";
import { edgeGet, steadyGets } from "@/server/ingress/testing";

const exec = promisify(execFile);
const { values } = parseArgs({
  options: {
    requests: { type: "string" },
    seconds: { type: "string" },
    concurrency: { type: "string" },
    rate: { type: "string" },
  },
});
const REQUESTS = Number(values.requests ?? 1000);
const SECONDS = Number(values.seconds ?? 10);
const CONCURRENCY = Number(values.concurrency ?? 8);
// TCG guests on 2 cores serve a few dozen requests a second at best: the failover stream stays well below.
const RATE = Number(values.rate ?? 5);
const say = (s: string) => process.stdout.write(`${s}\n`);
const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const quantile = (xs: number[], q: number) => {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
};
const f2 = (ms: number) => `${ms.toFixed(2)} ms`;

type TPlacement = {
  instanceId: string;
  nodeId: string;
  status: string;
  formnetIp: string | null;
  urls: { port: number; url: string }[];
};

/** One GET on a keep-alive agent: resolves with the latency in ms; throws on a non-200. */
function get(opts: { agent: Agent; host: string; port: number; hostHeader?: string; localAddress?: string }) {
  const started = performance.now();
  return new Promise<number>((resolve, reject) => {
    const req = request(
      {
        agent: opts.agent,
        host: opts.host,
        port: opts.port,
        path: "/",
        headers: opts.hostHeader ? { host: opts.hostHeader } : {},
        ...(opts.localAddress ? { localAddress: opts.localAddress } : {}),
      },
      (res) => {
        res.resume();
        res.on("end", () =>
          res.statusCode === 200
            ? resolve(performance.now() - started)
            : reject(new Error(`status ${res.statusCode}`)),
        );
      },
    );
    req.on("error", reject);
    req.end();
  });
}

/** p50/p99 of `n` sequential GETs, then req/s of `concurrency` loops for `seconds`. */
async function measure(next: () => Promise<number>) {
  for (let i = 0; i < 50; i++) await next();
  const latencies: number[] = [];
  for (let i = 0; i < REQUESTS; i++) latencies.push(await next());
  let done = 0;
  const until = Date.now() + SECONDS * 1000;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (Date.now() < until) {
        await next();
        done++;
      }
    }),
  );
  return { p50: quantile(latencies, 0.5), p99: quantile(latencies, 0.99), rps: done / SECONDS };
}

async function main(): Promise<void> {
  const t0 = Date.now();
  const platform = await startMultinodePlatform({ nodes: 4 });
  say(`multinode platform ready in ${secs(Date.now() - t0)} (log ${platform.logPath})`);
  const work = await mkdtemp(join(tmpdir(), "formation-ingress-bench-"));
  const env = { FORMKIT: join(work, "kit"), FORM_PASSWORD: "ingress bench" };
  try {
    const { form } = await setUpExampleProject({ work, url: platform.url, password: env.FORM_PASSWORD });
    const buildId = jsonOf<{ buildId: string }>(await form(["pack", "build", "--json"])).buildId;
    await form(["pack", "ship", "--replicas", "3", "--wait"]);
    const placements = async () =>
      jsonOf<TPlacement[]>(await form(["manage", "get-ip", "--build-id", buildId, "--json"])).filter(
        (r) => r.status === "running" && r.formnetIp,
      );
    const rows = await waitFor(
      "3 running replicas",
      async () => {
        const r = await placements();
        return r.length === 3 ? r : undefined;
      },
      { timeoutMs: 600_000, intervalMs: 2_000 },
    );
    const url = rows[0]?.urls[0]?.url ?? "";
    const host = new URL(url).host;
    await waitFor(
      "all 3 replicas served by the edge",
      async () => {
        const seen = new Set<string>();
        for (let i = 0; i < 9; i++) seen.add((await edgeGet(url).catch(() => null))?.instance ?? "");
        return rows.every((r) => seen.has(r.instanceId)) ? true : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 1_000 },
    );
    const iface = await consoleMemberInterface(platform.dataDir);
    const { stdout: addr } = await exec("ip", ["-4", "-o", "addr", "show", "dev", iface]);
    const memberAddress = /inet (\d+\.\d+\.\d+\.\d+)/.exec(addr)?.[1];
    if (!memberAddress) throw new Error(`no address on ${iface}`);
    say(`app ${url} — 3 replicas on 3 node hosts; the console's formnet address ${memberAddress}`);

    const directAgent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
    let turn = 0;
    const direct = await measure(() => {
      const ip = rows[turn++ % rows.length]?.formnetIp ?? "";
      return get({ agent: directAgent, host: ip, port: 8080, localAddress: memberAddress });
    });
    const edgeAgent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
    const edge = await measure(() =>
      get({ agent: edgeAgent, host: "127.0.0.1", port: platform.port, hostHeader: host }),
    );
    directAgent.destroy();
    edgeAgent.destroy();
    say(
      `direct over formnet (keep-alive, round-robin over 3 VMs): p50 ${f2(direct.p50)}, p99 ${f2(direct.p99)}; ${direct.rps.toFixed(0)} req/s at concurrency ${CONCURRENCY}`,
    );
    say(
      `through the edge (same client, same WireGuard): p50 ${f2(edge.p50)}, p99 ${f2(edge.p99)}; ${edge.rps.toFixed(0)} req/s at concurrency ${CONCURRENCY}`,
    );
    say(
      `edge/direct: p50 ×${(edge.p50 / direct.p50).toFixed(2)}, p99 ×${(edge.p99 / direct.p99).toFixed(2)}, req/s ×${(edge.rps / direct.rps).toFixed(2)} (${REQUESTS} sequential requests, ${SECONDS} s at concurrency ${CONCURRENCY})`,
    );

    // Failover: kill one replica's host under a steady stream of visitors.
    const hostOfNode = new Map<string, number>();
    for (const h of platform.network.layout.hosts) {
      const status = await readStatusFile(
        join(platform.dataDir, "nodes", String(h.n), "agent", "status.json"),
      );
      if (status?.nodeId) hostOfNode.set(status.nodeId, h.n);
    }
    const victim = rows[0];
    if (!victim) throw new Error("no replica");
    const baseline = await steadyGets(url, { perSecond: RATE, ms: 3_000 });
    const normal = Math.max(
      3 *
        quantile(
          baseline.map((g) => g.ms),
          0.99,
        ),
      50,
    );
    const stream = steadyGets(url, { perSecond: RATE, ms: 15_000 });
    await new Promise((r) => setTimeout(r, 2_000));
    const crashedAt = Date.now();
    await platform.network.crashHost(hostOfNode.get(victim.nodeId) ?? 0);
    const gets = await stream;
    const failed = gets.filter((g) => g.status !== 200);
    // Every request still in flight at the crash counts, not only those sent after it.
    const after = gets.filter((g) => g.startedAt + g.ms >= crashedAt);
    const slowed = after.filter((g) => g.ms > normal);
    const backToNormal = Math.max(crashedAt, ...slowed.map((g) => g.startedAt + g.ms)) - crashedAt;
    say(
      `failover (${RATE} GET/s, new connection each, host of 1 of 3 replicas killed): ${gets.length} requests, ${failed.length} failed; ${slowed.length} slowed past ${normal.toFixed(0)} ms (3× the p99 before), slowest ${Math.max(0, ...after.map((g) => g.ms)).toFixed(0)} ms; latency normal again ${(backToNormal / 1000).toFixed(2)} s after the crash`,
    );
    if (failed.length > 0) say(`failed: ${JSON.stringify(failed.slice(0, 5))}`);
  } finally {
    await runForm({ args: ["manage", "leave"], env }).catch(() => undefined);
    await platform.stop();
    await rm(work, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
