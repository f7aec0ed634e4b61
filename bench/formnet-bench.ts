/**
 * formnet benchmark: join time and throughput of the WireGuard mesh between network namespaces.
 *   npx tsx bench/formnet-bench.ts [--runs 5] [--seconds 5]
 * Join time = from `WireguardInterface.up` on the joining host until its first ping through the
 * tunnel is answered (the other side already lists the joiner as a peer, as after the console has
 * allocated its address). Throughput = iperf3 TCP over the tunnel, and over the bare LAN for scale.
 * Prints a markdown table. Needs root, wireguard-go, wireguard-tools, iperf3, busybox.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { run, succeeds, waitFor } from "@/core/formnet/command";
import { ensureKeyFile } from "@/core/formnet/keys";
import { WireguardInterface } from "@/core/formnet/wireguard-interface";
import { type Netns, NetnsLab } from "@/core/netns/netns";

const { values } = parseArgs({ options: { runs: { type: "string" }, seconds: { type: "string" } } });
const RUNS = Number(values.runs ?? 5);
const SECONDS = Number(values.seconds ?? 5);
const PORT = 51820;

async function iperf(server: Netns, client: Netns, ip: string): Promise<number> {
  const daemon = server.spawn("iperf3", ["-s", "-1", "-B", ip]);
  try {
    await waitFor(
      "iperf3 server",
      async () =>
        (await succeeds("sh", ["-c", `ss -ltn | grep -q ':5201 '`], { netns: server.name }))
          ? true
          : undefined,
      {
        timeoutMs: 5000,
      },
    );
    const out = await client.exec("iperf3", ["-c", ip, "-t", String(SECONDS), "-J"], {
      timeoutMs: (SECONDS + 20) * 1000,
    });
    const report = JSON.parse(out) as { end?: { sum_received?: { bits_per_second?: number } } };
    return (report.end?.sum_received?.bits_per_second ?? 0) / 1e6;
  } finally {
    if (daemon.exitCode === null) daemon.kill("SIGKILL");
  }
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
};

const dir = await mkdtemp(join(tmpdir(), "formnet-bench-"));
const lab = await NetnsLab.create();
try {
  const a = await lab.addHost("a");
  const b = await lab.addHost("b");
  const suffix = lab.prefix.slice(3);
  const keyB = join(dir, "b.key");
  const { publicKey: pubB } = await ensureKeyFile(keyB);
  const ifA = await WireguardInterface.up({
    name: `fn-na${suffix}`,
    address: "10.42.0.1/16",
    listenPort: PORT,
    privateKeyPath: join(dir, "a.key"),
    netns: a.ns.name,
  });
  await ifA.setPeers([{ publicKey: pubB, allowedIps: ["10.42.0.2/32"], persistentKeepalive: 25 }]);

  const joins: number[] = [];
  let ifB: WireguardInterface | undefined;
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now();
    ifB = await WireguardInterface.up({
      name: `fn-nb${suffix}`,
      address: "10.42.0.2/16",
      listenPort: PORT,
      privateKeyPath: keyB,
      netns: b.ns.name,
    });
    await ifB.setPeers([
      {
        publicKey: ifA.publicKey,
        endpoint: `${a.lanIp}:${PORT}`,
        allowedIps: ["10.42.0.1/32"],
        persistentKeepalive: 25,
      },
    ]);
    await waitFor(
      "first packet through the tunnel",
      async () =>
        (await succeeds("busybox", ["ping", "-c", "1", "-W", "1", "10.42.0.1"], { netns: b.ns.name }))
          ? true
          : undefined,
      { timeoutMs: 20_000, intervalMs: 10 },
    );
    joins.push(performance.now() - t0);
    if (i < RUNS - 1) await ifB.down();
  }
  const mbitTunnel = await iperf(a.ns, b.ns, "10.42.0.1");
  const mbitLan = await iperf(a.ns, b.ns, a.lanIp);
  await ifB?.down();
  await ifA.down();
  const cpu = (await run("nproc", [])).trim();
  process.stdout.write(
    [
      `formnet bench (${new Date().toISOString()}, ${cpu} cores, wireguard-go ${ifA.implementation})`,
      "",
      "| metric | value |",
      "|---|---|",
      `| join: up → first ping answered (median of ${RUNS}) | ${median(joins).toFixed(0)} ms |`,
      `| join: min / max | ${Math.min(...joins).toFixed(0)} / ${Math.max(...joins).toFixed(0)} ms |`,
      `| TCP throughput over formnet (iperf3, ${SECONDS} s) | ${mbitTunnel.toFixed(0)} Mbit/s |`,
      `| TCP throughput over the bare veth LAN (iperf3, ${SECONDS} s) | ${mbitLan.toFixed(0)} Mbit/s |`,
      "",
    ].join("\n"),
  );
} finally {
  await lab.destroy();
  await rm(dir, { recursive: true, force: true });
}
