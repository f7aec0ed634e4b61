/**
 * Multinode benchmark (issue #17): the README example on `FORMATION_NODES=4`, fresh node hosts.
 *   npx tsx bench/multinode-bench.ts [--nodes 4] [--throughput-mb 64] [--snapshots on|off]
 * Starts the platform with the README's start command (its own ports, namespaces and blocks),
 * then prints:
 * - ship (3 replicas, the build already cached) → all 3 replicas SSH-ready on 3 fresh hosts;
 * - laptop (its own namespace behind NAT) → VM on another host over WireGuard: TCP connect RTT
 *   (median of 20) and SSH throughput (`head -c N MiB /dev/zero` through ssh);
 * - the standby hosts (no replica) holding the image after the ship (the console's prefetch);
 * - host crash → replacement replica SSH-ready from the laptop, split into offline detection
 *   (the console marks the replica lost), placement + image fetch + boot (running), and the
 *   laptop's path to it.
 * Needs root, QEMU, wireguard-go, mmdebstrap (a warm /var/cache/formation makes the build a hit).
 */
import { execFile } from "node:child_process";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs, promisify } from "node:util";
import { FORM_BUNDLE, jsonOf, runForm } from "@/cli/testing";
import { waitFor } from "@/core/formnet/command";
import { readStatusFile } from "@/node-agent/config/status-file";
import { setUpExampleProject } from "@/scripts/lib/example-project";
import { startMultinodePlatform } from "@/scripts/lib/multinode-test-platform";
import { platformLogLines } from "@/scripts/lib/platform-log";

const exec = promisify(execFile);
const { values } = parseArgs({
  options: { nodes: { type: "string" }, "throughput-mb": { type: "string" }, snapshots: { type: "string" } },
});
/** `off`: node agents boot every VM cold (`--vm-snapshots off`), to compare heals with and without. */
const SNAPSHOTS = values.snapshots ?? "on";
const NODES = Number(values.nodes ?? 4);
const THROUGHPUT_MB = Number(values["throughput-mb"] ?? 64);
const say = (s: string) => process.stdout.write(`${s}\n`);
const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;

type TPlacement = { instanceId: string; nodeId: string; status: string; formnetIp: string | null };

async function main(): Promise<void> {
  await exec(process.execPath, [join(import.meta.dirname, "../scripts/build-cli.mjs")]);
  const t0 = Date.now();
  const platform = await startMultinodePlatform({
    nodes: NODES,
    env: { FORMATION_AGENT_VM_SNAPSHOTS: SNAPSHOTS },
  });
  say(`VM snapshots on the node hosts: ${SNAPSHOTS}`);
  say(`platform with ${NODES} node hosts ready in ${secs(Date.now() - t0)} (log ${platform.logPath})`);
  const work = await mkdtemp(join(tmpdir(), "formation-multinode-bench-"));
  const laptop = platform.network.layout.laptop.nodeNetns;
  const inLaptop = (argv: string[], timeoutMs = 60_000) =>
    exec("ip", ["netns", "exec", laptop, ...argv], { timeout: timeoutMs, maxBuffer: 1 << 20 });
  try {
    // The CLI bundle (built fresh above), as the package installs it: a poll of `get-ip` then costs
    // ~0.3 s instead of the ~1.5–5 s of compiling the sources, which skewed the heal figures.
    const { form, sshKey } = await setUpExampleProject({
      work,
      url: platform.url,
      password: "multinode bench",
      bin: FORM_BUNDLE,
    });
    await form(["manage", "join"]);
    await form(["manage", "formnet-up", "--netns", laptop, "--interval-ms", "1000"]);
    const b0 = Date.now();
    const buildId = jsonOf<{ buildId: string }>(await form(["pack", "build", "--json"])).buildId;
    say(`build (builder cache on this machine): ${secs(Date.now() - b0)}`);
    const placements = async () =>
      jsonOf<TPlacement[]>(await form(["manage", "get-ip", "--build-id", buildId, "--json"]));

    const s0 = Date.now();
    await form(["pack", "ship", "--replicas", "3", "--wait"]);
    const shipMs = Date.now() - s0;
    const rows = (await placements()).filter((r) => r.status === "running");
    say(
      `ship → 3 replicas SSH-ready on 3 fresh node hosts: ${secs(shipMs)} (${new Set(rows.map((r) => r.nodeId)).size} hosts)`,
    );

    const target = rows[0]?.formnetIp ?? "";
    await waitFor(
      "laptop → VM HTTP",
      async () =>
        (await inLaptop(["curl", "-sf", "-m", "3", `http://${target}:8080/`])).stdout ? true : undefined,
      { timeoutMs: 60_000, intervalMs: 250 },
    );
    const connects: number[] = [];
    for (let i = 0; i < 20; i++) {
      const { stdout } = await inLaptop([
        "curl",
        "-s",
        "-o",
        "/dev/null",
        "-w",
        "%{time_connect}",
        `http://${target}:8080/`,
      ]);
      connects.push(Number(stdout) * 1000);
    }
    const ssh = ["ssh", "-i", sshKey, "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no"];
    ssh.push("-o", "UserKnownHostsFile=/dev/null", `webdev@${target}`);
    const x0 = Date.now();
    // Counted on the laptop side; the stream itself never reaches this process.
    const { stdout: counted } = await inLaptop(
      ["sh", "-c", `${ssh.map((a) => `'${a}'`).join(" ")} 'head -c ${THROUGHPUT_MB}M /dev/zero' | wc -c`],
      600_000,
    );
    const xMs = Date.now() - x0;
    const mbit = (Number(counted.trim()) * 8) / (xMs / 1000) / 1e6;
    say(
      `laptop → VM on another host over WireGuard: TCP connect median ${median(connects).toFixed(2)} ms (min ${Math.min(...connects).toFixed(2)}), ssh stream ${mbit.toFixed(0)} Mbit/s (${THROUGHPUT_MB} MiB in ${secs(xMs)}, guest sshd under TCG)`,
    );

    const hosts = new Map<string, number>();
    const formnetIps = new Map<number, string>();
    for (const h of platform.network.layout.hosts) {
      const status = await readStatusFile(
        join(platform.dataDir, "nodes", String(h.n), "agent", "status.json"),
      );
      if (status?.nodeId) hosts.set(status.nodeId, h.n);
      if (status?.formnet.address) formnetIps.set(h.n, status.formnet.address);
    }
    // WireGuard itself (wireguard-go on both ends), laptop → node host 1 through both NATs.
    const node1 = platform.network.host(1);
    const node1Ip = formnetIps.get(1) ?? "";
    const server = execFile("ip", ["netns", "exec", node1.nodeNetns, "iperf3", "-s", "-1", "-B", node1Ip]);
    const { stdout: iperf } = await waitFor(
      "iperf3 through formnet",
      () => inLaptop(["iperf3", "-c", node1Ip, "-t", "5", "-J"], 60_000),
      { timeoutMs: 30_000, intervalMs: 500 },
    );
    server.kill();
    const wgMbit = (JSON.parse(iperf) as { end: { sum_received: { bits_per_second: number } } }).end
      .sum_received.bits_per_second;
    say(`laptop → node host over WireGuard (iperf3, 5 s): ${(wgMbit / 1e6).toFixed(0)} Mbit/s`);

    // The host a replacement would go to fetched the image after the ship (a prefetch job): wait
    // for it, so the crash below measures a heal onto a warm standby, as a real network has.
    const hostsWithReplica = new Set(rows.map((r) => hosts.get(r.nodeId)));
    const standbys = platform.network.layout.hosts.filter((h) => !hostsWithReplica.has(h.n));
    const prefetchedAt = await waitFor(
      "the standby node hosts holding the image",
      async () => {
        for (const h of standbys) {
          const images = await readdir(join(platform.dataDir, "nodes", String(h.n), "agent", "images")).catch(
            () => [] as string[],
          );
          if (!images.some((f) => f.endsWith(".img"))) return undefined;
        }
        return Date.now();
      },
      { timeoutMs: 300_000, intervalMs: 250 },
    );
    say(
      `standby prefetch: ${standbys.length} node host(s) without a replica held the image ${secs(prefetchedAt - s0 - shipMs)} after the ship returned`,
    );
    if (SNAPSHOTS === "on") {
      // The standby also makes the image's snapshot for the replica's shape: a heal there restores.
      const snapshotAt = await waitFor(
        "the standby node hosts holding the image's snapshot",
        async () => {
          for (const h of standbys) {
            const dir = join(platform.dataDir, "nodes", String(h.n), "agent", "snapshots");
            const keys = (await readdir(dir).catch(() => [] as string[])).filter((k) => !k.startsWith("."));
            const held = await Promise.all(
              keys.map((k) => readdir(join(dir, k)).catch(() => [] as string[])),
            );
            if (!held.some((files) => files.includes("meta.json"))) return undefined;
          }
          return Date.now();
        },
        { timeoutMs: 300_000, intervalMs: 250 },
      );
      say(`standby snapshot: made ${secs(snapshotAt - prefetchedAt)} after the prefetch`);
    }

    // Crash the host of one replica: every process in its namespace dies at once.
    const victim = rows[0];
    if (!victim) throw new Error("no replica");
    const c0 = Date.now();
    await platform.network.crashHost(hosts.get(victim.nodeId) ?? 0);
    const lostAt = await waitFor(
      "the replica marked lost",
      async () =>
        (await placements()).find((r) => r.instanceId === victim.instanceId && r.status === "lost")
          ? Date.now()
          : undefined,
      { timeoutMs: 120_000, intervalMs: 250 },
    );
    const replacement = await waitFor(
      "a replacement running",
      async () =>
        (await placements()).find(
          (r) => r.status === "running" && r.formnetIp && !rows.some((o) => o.instanceId === r.instanceId),
        ),
      { timeoutMs: 300_000, intervalMs: 250 },
    );
    const runningAt = Date.now();
    await waitFor(
      "the laptop reaching the replacement",
      async () =>
        (await inLaptop(["curl", "-sf", "-m", "2", `http://${replacement.formnetIp}:8080/`])).stdout
          ? true
          : undefined,
      { timeoutMs: 120_000, intervalMs: 250 },
    );
    const reachedAt = Date.now();
    const launched = (await platformLogLines(platform.logPath, c0)).find(
      (l) => l.msg === "vm started" && l.instanceId === replacement.instanceId,
    );
    say(
      `replacement launched ${String(launched?.fields.mode ?? "?")} in ${secs(Number(launched?.fields.ms ?? 0))} (QEMU start to process up${launched?.fields.mode === "restored" ? ", memory loaded and identity set" : ""})`,
    );
    say(
      `host crash → replacement SSH-ready (running), snapshots ${SNAPSHOTS}: ${secs(runningAt - c0)} = offline detection ${secs(lostAt - c0)} + placement, image fetch and boot ${secs(runningAt - lostAt)}; laptop reaches it ${secs(reachedAt - c0)} after the crash`,
    );
  } finally {
    await runForm({
      args: ["manage", "leave"],
      env: { FORMKIT: join(work, "kit"), FORM_PASSWORD: "multinode bench" },
    });
    await platform.stop();
    await rm(work, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
