import { execFile, spawn } from "node:child_process";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { jsonOf, runForm } from "../../cli/testing";
import { waitFor } from "../../core/formnet/command";
import { readStatusFile } from "../../node-agent/config/status-file";
import { edgeGet, steadyGets } from "../../server/ingress/testing";
import { setUpExampleProject } from "./example-project";
import {
  consoleMemberInterface,
  type TMultinodePlatform,
  useMultinodePlatform,
} from "./multinode-test-platform";

/**
 * The README example on the multinode local network (`FORMATION_NODES=4`), nothing faked: three
 * replicas on three node hosts behind NAT, reached from a laptop behind a NAT of its own over
 * WireGuard; one host crashes and the replica moves; the host reboots and is left clean.
 */

const exec = promisify(execFile);
const PASSWORD = "multinode password";

type TPlacement = {
  instanceId: string;
  nodeId: string;
  status: string;
  formnetIp: string | null;
  reason: string | null;
  placement: string | null;
  urls: { port: number; url: string }[];
};

let platform: TMultinodePlatform;
let work = "";
let project = "";
let sshKey = "";
let env: Record<string, string> = {};
let buildId = "";
/** Node id → host number (from each simulated host's agent status file). */
const hostOfNode = new Map<string, number>();

const form = (args: string[], timeoutMs = 180_000) => runForm({ args, env, cwd: project, timeoutMs });

async function placements(): Promise<TPlacement[]> {
  return jsonOf<TPlacement[]>(await form(["manage", "get-ip", "--build-id", buildId, "--json"]));
}

async function inLaptop(argv: string[], timeoutMs = 20_000): Promise<{ ok: boolean; out: string }> {
  try {
    const { stdout } = await exec(
      "ip",
      ["netns", "exec", platform.network.layout.laptop.nodeNetns, ...argv],
      {
        timeout: timeoutMs,
      },
    );
    return { ok: true, out: stdout };
  } catch (error) {
    return { ok: false, out: String(error) };
  }
}

const httpFromLaptop = (ip: string) => inLaptop(["curl", "-sS", "-m", "5", `http://${ip}:8080/`]);
const sshFromLaptop = (ip: string) =>
  inLaptop(
    [
      ...["ssh", "-i", sshKey, "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no"],
      ...["-o", "UserKnownHostsFile=/dev/null", "-o", "ConnectTimeout=20", `webdev@${ip}`, "hostname"],
    ],
    60_000,
  );

/** The app on `ip` answers the laptop over WireGuard (its tunnel learns new instances every 2 s). */
async function httpReachesFromLaptop(ip: string, when: string): Promise<void> {
  const http = await waitFor(
    `HTTP from the laptop to ${ip}${when}`,
    async () => {
      const res = await httpFromLaptop(ip);
      return res.ok ? res : undefined;
    },
    SECOND(60),
  );
  expect(http.out).toContain("hello from formation");
}

/** Besides HTTP, SSH from the laptop to `ip` lands on `instanceId`'s VM. */
async function reachableFromLaptop(ip: string, instanceId: string, when = ""): Promise<void> {
  await httpReachesFromLaptop(ip, when);
  const ssh = await sshFromLaptop(ip);
  expect(ssh.ok, ssh.out).toBe(true);
  expect(ssh.out.trim()).toBe(instanceId);
}

async function refreshHosts(): Promise<void> {
  for (const host of platform.network.layout.hosts) {
    const status = await readStatusFile(
      join(platform.dataDir, "nodes", String(host.n), "agent", "status.json"),
    );
    if (status?.nodeId) hostOfNode.set(status.nodeId, host.n);
  }
}

/** `waitFor` options: poll every second for up to `seconds`. */
const SECOND = (seconds: number) => ({ timeoutMs: seconds * 1000, intervalMs: 1000 });

/**
 * Visitors' GETs through the edge across the host crash: 5 a second for the 12 s after it, the
 * edge's failover (the dead replica out of rotation within ~2 s) and well before the replacement
 * boots. The replicas are TCG guests: on a 2-core machine the replacement's boot (2 emulated
 * vCPUs) starves the live guests for seconds, so their apps stop accepting — a capacity limit of
 * the machine, not the edge's failover, which edge.integration.test.ts streams at 20 req/s.
 */
const EDGE_STREAM = { perSecond: 5, ms: 12_000 };

const running = (rows: TPlacement[]) => rows.filter((r) => r.status === "running" && r.formnetIp);

describe("multinode network: the README example across hosts behind NAT", () => {
  beforeAll(async () => {
    platform = await useMultinodePlatform();
    work = await mkdtemp(join(tmpdir(), "formation-multinode-test-"));
    // Copies the example, admits the multinode SSH key and runs `form kit init` (throws if it fails).
    const example = await setUpExampleProject({ work, url: platform.url, password: PASSWORD });
    ({ dir: project, sshKey, env } = example);
  });

  afterAll(async () => {
    if (env.FORMKIT) await form(["manage", "leave"]).catch(() => undefined);
    await platform?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it("ships 3 replicas to 3 distinct node hosts; the laptop reaches each over WireGuard", async () => {
    const joined = await form(["manage", "join", "--json"]);
    expect(joined.code, joined.stderr).toBe(0);
    const up = await form([
      ...["manage", "formnet-up", "--netns", platform.network.layout.laptop.nodeNetns],
      ...["--interval-ms", "2000", "--relay-retry-ms", "5000", "--relay-silence-ms", "40000", "--json"],
    ]);
    expect(up.code, up.stderr).toBe(0);

    const built = await form(["pack", "build", "--json"], 1_800_000);
    expect(built.code, built.stderr.slice(-4000)).toBe(0);
    buildId = jsonOf<{ buildId: string }>(built).buildId;
    const shipped = await form(["pack", "ship", "--replicas", "3", "--wait", "--json"], 900_000);
    expect(shipped.code, shipped.stderr.slice(-4000)).toBe(0);

    const rows = running(await placements());
    expect(rows).toHaveLength(3);
    expect(new Set(rows.map((r) => r.nodeId)).size).toBe(3);
    await refreshHosts();
    for (const r of rows) expect(hostOfNode.get(r.nodeId), `host of ${r.nodeId}`).toBeGreaterThan(0);

    for (const r of rows) await reachableFromLaptop(r.formnetIp ?? "", r.instanceId);

    // The public ingress: the deployment's URL on the console's host reaches all 3 replicas on
    // their hosts behind NAT over formnet, from the console's own formnet address.
    const url = rows[0]?.urls[0]?.url ?? "";
    expect(url).toMatch(new RegExp(`^http://hello-server-[0-9a-f]{8}\\.localhost:${platform.port}/$`));
    await waitFor(
      "the edge serving the app",
      async () => ((await edgeGet(url).catch(() => null))?.status === 200 ? true : undefined),
      SECOND(60),
    );
    // Replicas get traffic once their first health check passed: every one of them, in turn.
    const served = new Set<string>();
    await waitFor(
      "the edge spreading requests over all 3 replicas",
      async () => {
        for (let i = 0; i < 6; i++) {
          const r = await edgeGet(url);
          expect(r.status).toBe(200);
          expect(r.body).toBe("hello from formation\n");
          served.add(r.instance ?? "");
        }
        return served.size >= rows.length ? true : undefined;
      },
      SECOND(60),
    );
    expect([...served].sort()).toEqual(rows.map((r) => r.instanceId).sort());
    // A visitor on the simulated internet (the laptop's namespace, behind its NAT) opens it too.
    const host = new URL(url).host;
    const visitor = await inLaptop([
      ...["curl", "-sS", "-m", "10", "-H", `Host: ${host}`],
      `http://${platform.network.layout.consoleHostIp}:${platform.port}/`,
    ]);
    expect(visitor.out).toBe("hello from formation\n");
  });

  it("a crashed host's replica moves to a live host; the host comes back clean and keeps nothing", async () => {
    const before = running(await placements());
    expect(before).toHaveLength(3);
    // Crash a host that is not node 3, so that node 3 hosts a replica afterwards in any case (the
    // browser spec opens a terminal there): it either had one, or it is the only free host left.
    const victim = before.find((r) => hostOfNode.get(r.nodeId) !== 3);
    if (!victim) throw new Error("no replica outside node 3");
    const crashedHost = hostOfNode.get(victim.nodeId) ?? 0;
    // The one host without a replica is where a replacement goes: the console had it prefetch the
    // image after the ship, so the heal boots there without a download.
    await refreshHosts();
    const standby = platform.network.layout.hosts.find(
      (h) => !before.some((r) => hostOfNode.get(r.nodeId) === h.n),
    );
    if (!standby) throw new Error("no host without a replica");
    await waitFor(
      `node host ${standby.n} holding the image (prefetch)`,
      async () => {
        const dir = join(platform.dataDir, "nodes", String(standby.n), "agent", "images");
        return (await readdir(dir).catch(() => [] as string[])).some((f) => f.endsWith(".img")) || undefined;
      },
      SECOND(120),
    );
    // Visitors keep GETting the app through the edge across the crash: none may fail.
    const url = victim.urls[0]?.url ?? "";
    const stream = steadyGets(url, EDGE_STREAM);
    await waitFor(
      "the edge stream under way",
      async () => (await edgeGet(url)).status === 200 || undefined,
      SECOND(10),
    );
    const crashedAt = Date.now();
    expect(await platform.network.crashHost(crashedHost)).toBeGreaterThan(0);

    const healed = await waitFor(
      "3 running replicas on 3 live hosts",
      async () => {
        const rows = running(await placements());
        const nodes = new Set(rows.map((r) => r.nodeId));
        return rows.length === 3 && nodes.size === 3 && !nodes.has(victim.nodeId) ? rows : undefined;
      },
      SECOND(240),
    );
    const healSeconds = (Date.now() - crashedAt) / 1000;
    const gets = await stream;
    const failed = gets.filter((g) => g.status !== 200);
    expect(failed, JSON.stringify(failed.slice(0, 5))).toEqual([]);
    // Every request still in flight at the crash counts, not only those sent after it.
    const afterCrash = gets.filter((g) => g.startedAt + g.ms >= crashedAt);
    const slow = afterCrash.filter((g) => g.ms > 250);
    const toVictim = gets.filter((g) => g.instance === victim.instanceId).map((g) => g.startedAt);
    const victimNote =
      toVictim.length === 0
        ? "no request was served by the dead replica"
        : `last request served by the dead replica started ${((Math.max(...toVictim) - crashedAt) / 1000).toFixed(2)} s after the crash`;
    const recovered = Math.max(crashedAt, ...slow.map((g) => g.startedAt + g.ms));
    process.stderr.write(
      `multinode: edge across the crash — ${gets.length} GETs at ${EDGE_STREAM.perSecond}/s, 0 failed; before it the slowest took ${Math.max(0, ...gets.filter((g) => g.startedAt < crashedAt).map((g) => g.ms)).toFixed(0)} ms; after the crash ${slow.length} took > 250 ms (slowest ${Math.max(0, ...afterCrash.map((g) => g.ms)).toFixed(0)} ms); ${victimNote}; normal latency again ${((recovered - crashedAt) / 1000).toFixed(2)} s after it\n`,
    );
    // Requests sent while the host was being killed may still have been answered by it; none later.
    expect(gets.filter((g) => g.startedAt > crashedAt + 1_000 && g.instance === victim.instanceId)).toEqual(
      [],
    );
    process.stderr.write(
      `multinode: host ${crashedHost} crashed → 3 replicas running again in ${healSeconds.toFixed(1)} s\n`,
    );
    const moved = healed.find((r) => !before.some((b) => b.instanceId === r.instanceId));
    expect(moved?.placement ?? "", "the new replica says why it moved").toMatch(
      new RegExp(`replaces ${victim.instanceId} on node ${victim.nodeId}: node .* offline`),
    );
    await refreshHosts();
    expect(healed.some((r) => hostOfNode.get(r.nodeId) === 3)).toBe(true);
    expect(hostOfNode.get(moved?.nodeId ?? ""), "the replacement is on the prefetched host").toBe(standby.n);
    for (const r of healed) await httpReachesFromLaptop(r.formnetIp ?? "", " after the heal");
    // The edge sends the replacement its share once its health check passes.
    await waitFor(
      "the edge serving the replacement",
      async () => {
        for (let i = 0; i < 6; i++) if ((await edgeGet(url)).instance === moved?.instanceId) return true;
        return undefined;
      },
      SECOND(60),
    );

    // The host reboots (after the platform's reboot delay): its agent finds the VM gone, the console
    // ends the lost replica, and nothing of it is left on the host or in anyone's peers.
    const host = platform.network.host(crashedHost);
    await waitFor(
      "the crashed host's agent back and the lost replica ended",
      async () => {
        const status = await readStatusFile(
          join(platform.dataDir, "nodes", String(crashedHost), "agent", "status.json"),
        );
        if (status?.connection !== "connected" || (status.pid ?? 0) === 0) return undefined;
        // get-ip lists what is not deleted: the lost replica disappears once it is ended.
        const lost = (await placements()).find((r) => r.instanceId === victim.instanceId);
        return lost === undefined ? true : undefined;
      },
      SECOND(180),
    );
    const { stdout: pids } = await exec("ip", ["netns", "pids", host.nodeNetns]);
    const commands = await Promise.all(
      pids
        .split(/\s+/)
        .filter(Boolean)
        .map((pid) => readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "")),
    );
    expect(commands.filter((c) => c.includes("qemu-system"))).toEqual([]);
    const inHost = (argv: string[]) =>
      exec("ip", ["netns", "exec", host.nodeNetns, ...argv]).then((r) => r.stdout);
    // No tap is left: the only tun device is the agent's own WireGuard interface (wireguard-go).
    const tuns = (await inHost(["ip", "-o", "link", "show", "type", "tun"]))
      .split("\n")
      .filter((l) => l.trim() !== "" && !/^\d+: fn-n/.test(l));
    expect(tuns).toEqual([]);
    expect((await inHost(["iptables", "-S"])).split("\n").filter((l) => l.startsWith("-N FN-"))).toEqual([]);
    // The console's WireGuard peer of that host no longer routes the lost VM's address.
    const consoleIface = await consoleMemberInterface(platform.dataDir);
    const { stdout: allowed } = await exec("wg", ["show", consoleIface, "allowed-ips"]);
    expect(allowed).not.toContain(`${victim.formnetIp}/32`);
  });

  it("a host cut off the network loses its replica to a live host; when it is back its surplus replica goes", async () => {
    const before = running(await placements());
    expect(before).toHaveLength(3);
    await refreshHosts();
    // Not node 3: the relay test and the browser spec after this suite use its replica.
    const victim = before.find((r) => hostOfNode.get(r.nodeId) !== 3);
    if (!victim) throw new Error("no replica outside node 3");
    const cutHost = hostOfNode.get(victim.nodeId) ?? 0;
    const host = platform.network.host(cutHost);
    const qemuOnHost = async () => {
      const { stdout } = await exec("ip", ["netns", "pids", host.nodeNetns]);
      const commands = await Promise.all(
        stdout
          .split(/\s+/)
          .filter(Boolean)
          .map((pid) => readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "")),
      );
      return commands.filter((c) => c.includes("qemu-system") && c.includes(victim.instanceId));
    };
    await platform.network.partitionHost(cutHost, true);
    try {
      // The console loses the host's heartbeats: the replica is replaced on a live host, while the
      // cut-off host keeps running its VM (it cannot know it was replaced).
      const healed = await waitFor(
        "3 running replicas on 3 hosts reachable by the console",
        async () => {
          const rows = running(await placements());
          const nodes = new Set(rows.map((r) => r.nodeId));
          return rows.length === 3 && nodes.size === 3 && !nodes.has(victim.nodeId) ? rows : undefined;
        },
        SECOND(240),
      );
      const moved = healed.find((r) => !before.some((b) => b.instanceId === r.instanceId));
      expect(moved?.placement ?? "").toMatch(
        new RegExp(`replaces ${victim.instanceId} on node ${victim.nodeId}: node .* offline`),
      );
      expect(await qemuOnHost()).toHaveLength(1);
    } finally {
      await platform.network.partitionHost(cutHost, false);
    }
    // Back on the network, the agent reconnects and reports the VM it kept: the console ends it.
    await waitFor(
      "the surplus replica on the host that was cut off removed",
      async () => ((await qemuOnHost()).length === 0 ? true : undefined),
      SECOND(180),
    );
    const after = running(await placements());
    expect(after).toHaveLength(3);
    expect(new Set(after.map((r) => r.nodeId)).size).toBe(3);
    expect(after.some((r) => r.instanceId === victim.instanceId)).toBe(false);
    for (const r of after) await httpReachesFromLaptop(r.formnetIp ?? "", " after the partition healed");
  });

  it("behind strict NAT on both sides the laptop reaches a VM through the relay, and goes direct again without dropping SSH", async () => {
    const rows = running(await placements());
    await refreshHosts();
    const target = rows.find((r) => hostOfNode.get(r.nodeId) === 3);
    if (!target?.formnetIp) throw new Error("no running replica on node 3");
    const ip = target.formnetIp;
    const laptop = platform.network.layout.laptop.nodeNetns;
    // The laptop's WireGuard peer that routes the VM's address is node 3's agent.
    const { stdout: allowed } = await exec("ip", [
      "netns",
      "exec",
      laptop,
      "wg",
      "show",
      "all",
      "allowed-ips",
    ]);
    const peerKey = allowed
      .split("\n")
      .map((line) => line.trim().split(/\s+/))
      .find((cols) => cols.slice(2).some((c) => c === `${ip}/32`))?.[1];
    if (!peerKey) throw new Error(`no laptop peer routes ${ip}:\n${allowed}`);
    const pathOf = async () => {
      const status = jsonOf<{ relay: { up: boolean }; peers: Array<{ publicKey: string; path: string }> }>(
        await form(["manage", "formnet-status", "--json"]),
      );
      return { relayUp: status.relay.up, path: status.peers.find((p) => p.publicKey === peerKey)?.path };
    };
    expect(await pathOf()).toEqual({ relayUp: true, path: "direct" });

    try {
      // No port forwarding in front of node 3, symmetric NAT on both sides, unsolicited UDP dropped.
      await platform.network.setNat(3, "strict");
      await platform.network.setNat(0, "strict");
      await waitFor(
        "the laptop's path to node 3 relayed",
        async () => ((await pathOf()).path === "relayed" ? true : undefined),
        SECOND(120),
      );
      await reachableFromLaptop(ip, target.instanceId, " through the relay");

      // An SSH session open across the switch: the VM prints a tick every second until stdin closes.
      const session = spawn("ip", [
        ...["netns", "exec", laptop, "ssh", "-i", sshKey, "-o", "BatchMode=yes"],
        ...["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null"],
        ...["-o", "ServerAliveInterval=5", `webdev@${ip}`],
        "i=0; while [ $i -lt 600 ]; do echo tick $i; i=$((i+1)); sleep 1; done",
      ]);
      let ticks = 0;
      let exited: number | null = null;
      session.stdout.on("data", (chunk: Buffer) => {
        ticks += (chunk.toString().match(/tick/g) ?? []).length;
      });
      session.once("exit", (code) => {
        exited = code ?? -1;
      });
      try {
        await waitFor("the SSH session ticking", async () => (ticks >= 2 ? true : undefined), SECOND(60));
        await platform.network.setNat(3, "forward");
        await platform.network.setNat(0, "plain");
        await waitFor(
          "the laptop's path to node 3 direct again",
          async () => ((await pathOf()).path === "direct" ? true : undefined),
          SECOND(120),
        );
        const atUpgrade = ticks;
        await waitFor(
          "the SSH session ticking after the upgrade",
          async () => (ticks >= atUpgrade + 3 ? true : undefined),
          SECOND(60),
        );
        expect(exited, "the SSH session survived the switch").toBeNull();
      } finally {
        session.kill("SIGTERM");
      }
      const direct = await httpFromLaptop(ip);
      expect(direct.ok, direct.out).toBe(true);
    } finally {
      await platform.network.setNat(3, "forward");
      await platform.network.setNat(0, "plain");
    }
  });
});
