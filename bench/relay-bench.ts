/**
 * formnet relay benchmark (issue #20), on the multinode local network with 2 node hosts:
 *   npx tsx bench/relay-bench.ts [--seconds 5]
 * Node 1 sits behind a router that forwards its WireGuard port (direct path), node 2 and the laptop
 * behind symmetric NAT that drops unsolicited UDP (`FORMATION_NAT=2=strict,laptop=strict`), so the
 * laptop reaches node 2 only through the console's relay. Prints, laptop → node host over formnet:
 * - time to first packet from `form manage formnet-up` (a new pair: direct, and relayed — the
 *   relayed one waits for the direct try to time out first);
 * - ICMP round-trip time (median and p90 of 50 pings), direct vs relayed;
 * - TCP throughput (iperf3, `--seconds`), direct vs relayed.
 * No VMs are involved; the relayed path's cost is the same for a VM behind that node.
 */
import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs, promisify } from "node:util";
import { jsonOf, runForm } from "@/cli/testing";
import { waitFor } from "@/core/formnet/command";
import { readStatusFile } from "@/node-agent/config/status-file";
import { MULTINODE_USER_KEY, startMultinodePlatform } from "@/scripts/lib/multinode-test-platform";

const exec = promisify(execFile);
const { values } = parseArgs({ options: { seconds: { type: "string" } } });
const SECONDS = Number(values.seconds ?? 5);
const say = (s: string) => process.stdout.write(`${s}\n`);
const quantile = (xs: number[], q: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * q))] ?? 0;

async function main(): Promise<void> {
  process.env.FORMATION_NAT = "2=strict,laptop=strict";
  const platform = await startMultinodePlatform({ nodes: 2 });
  const work = await mkdtemp(join(tmpdir(), "formation-relay-bench-"));
  const env = { FORMKIT: join(work, "kit"), FORM_PASSWORD: "relay bench" };
  const laptop = platform.network.layout.laptop.nodeNetns;
  const inLaptop = (argv: string[], timeoutMs = 60_000) =>
    exec("ip", ["netns", "exec", laptop, ...argv], { timeout: timeoutMs, maxBuffer: 1 << 22 });
  const form = async (args: string[]) => {
    const r = await runForm({ args, env, cwd: work, timeoutMs: 300_000 });
    if (r.code !== 0) throw new Error(`form ${args.join(" ")} failed:\n${r.stderr.slice(-3000)}`);
    return r;
  };
  try {
    // Each node host's formnet address, once its agent has brought formnet up.
    const ips = await waitFor(
      "both node hosts on formnet",
      async () => {
        const found = new Map<number, string>();
        for (const h of platform.network.layout.hosts) {
          const status = await readStatusFile(
            join(platform.dataDir, "nodes", String(h.n), "agent", "status.json"),
          );
          if (status?.formnet.address) found.set(h.n, status.formnet.address);
        }
        return found.size === platform.network.layout.hosts.length ? found : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 500 },
    );
    const direct = ips.get(1) ?? "";
    const relayed = ips.get(2) ?? "";
    await form(["kit", "init", "--yes", "--host", platform.url, "--private-key", MULTINODE_USER_KEY]);
    await form(["manage", "join"]);
    // Stay on the relay while measuring (no direct retries for 10 min).
    const t0 = Date.now();
    await form([
      "manage",
      "formnet-up",
      "--netns",
      laptop,
      "--interval-ms",
      "1000",
      "--relay-retry-ms",
      "600000",
    ]);
    const firstReply = async (ip: string) => {
      await waitFor(
        `a ping reply from ${ip}`,
        async () =>
          (await inLaptop(["ping", "-n", "-c", "1", "-W", "1", ip]).catch(() => null)) ? true : undefined,
        { timeoutMs: 120_000, intervalMs: 100 },
      );
      return (Date.now() - t0) / 1000;
    };
    const [firstDirect, firstRelayed] = await Promise.all([firstReply(direct), firstReply(relayed)]);
    say(
      `time to first packet after formnet-up: direct ${firstDirect.toFixed(1)} s, relayed ${firstRelayed.toFixed(1)} s (includes the 15 s direct try before falling back)`,
    );
    const status = jsonOf<{ peers: Array<{ address: string | null; path: string }> }>(
      await form(["manage", "formnet-status", "--json"]),
    );
    const pathTo = (ip: string) => status.peers.find((p) => p.address === ip)?.path;
    if (pathTo(direct) !== "direct" || pathTo(relayed) !== "relayed")
      throw new Error(`unexpected paths: ${JSON.stringify(status.peers)}`);

    for (const [label, ip] of [
      ["direct ", direct],
      ["relayed", relayed],
    ] as const) {
      const { stdout } = await inLaptop(["ping", "-n", "-q", "-c", "50", "-i", "0.1", ip], 60_000);
      const { stdout: each } = await inLaptop(["ping", "-n", "-c", "50", "-i", "0.1", ip], 60_000);
      const times = [...each.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1]));
      const loss = /(\d+)% packet loss/.exec(stdout)?.[1] ?? "?";
      const server = execFile("ip", [
        ...["netns", "exec", platform.network.host(ip === direct ? 1 : 2).nodeNetns],
        ...["iperf3", "-s", "-1", "-B", ip],
      ]);
      const { stdout: iperf } = await waitFor(
        "iperf3 through formnet",
        () => inLaptop(["iperf3", "-c", ip, "-t", String(SECONDS), "-J"], 120_000),
        { timeoutMs: 30_000, intervalMs: 500 },
      );
      server.kill();
      const bps = (JSON.parse(iperf) as { end: { sum_received: { bits_per_second: number } } }).end
        .sum_received.bits_per_second;
      say(
        `laptop → node host ${label}: RTT median ${quantile(times, 0.5).toFixed(2)} ms, p90 ${quantile(times, 0.9).toFixed(2)} ms (${loss}% loss); TCP ${(bps / 1e6).toFixed(0)} Mbit/s (iperf3, ${SECONDS} s)`,
      );
    }
  } finally {
    await runForm({ args: ["manage", "leave"], env, cwd: work }).catch(() => undefined);
    await platform.stop();
    await rm(work, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
