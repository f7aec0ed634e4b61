import { execFile } from "node:child_process";
import { appendFile, link, mkdtemp, readdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { jsonOf } from "../../cli/testing";
import { waitFor } from "../../core/formnet/command";
import { PIECE_BYTES } from "../../lib/protocol";
import { readStatusFile } from "../../node-agent/config/status-file";
import { sha256File } from "../../node-agent/image/layers";
import { setUpExampleProject, type TExampleProject } from "./example-project";
import { agentPids, nodeDir } from "./faults/host-probe";
import { type TMultinodePlatform, useMultinodePlatform } from "./multinode-test-platform";
import { platformLogLines, type TPlatformLogLine } from "./platform-log";

/**
 * Image distribution across node hosts behind NAT (issue #18), nothing faked: a new build of the
 * README example is shipped to three hosts that never saw it. Its layer reaches them from the node
 * that built it over formnet, not from the console; a host whose agent is killed mid-download
 * resumes and boots the image it verified; a peer holding a corrupt copy has its piece rejected and
 * the piece comes from another holder.
 */

const exec = promisify(execFile);
const SECOND = (seconds: number) => ({ timeoutMs: seconds * 1000, intervalMs: 250 });
/** The builder's uplink while the others fetch from it: slow enough to kill an agent mid-download. */
const THROTTLE = "24mbit";

type TRow = { instanceId: string; nodeId: string; status: string };

let platform: TMultinodePlatform;
let work = "";
let project: TExampleProject;
let buildId = "";
let layer = { digest: "", sizeBytes: 0 };
let builderHost = 0;
const hostOfNode = new Map<string, number>();

const imagesDir = (n: number) => join(nodeDir(platform, n), "agent", "images");
const layerFile = (n: number) => join(imagesDir(n), `sha256-${layer.digest.slice("sha256:".length)}.img`);
const rows = async () =>
  jsonOf<TRow[]>(await project.form(["manage", "get-ip", "--build-id", buildId, "--json"]));
const inRouter = (n: number, argv: string[]) =>
  exec("ip", ["netns", "exec", platform.network.host(n).routerNetns, ...argv]);

async function refreshHosts(): Promise<void> {
  for (const host of platform.network.layout.hosts) {
    const status = await readStatusFile(join(nodeDir(platform, host.n), "agent", "status.json"));
    if (status?.nodeId) hostOfNode.set(status.nodeId, host.n);
  }
}

/** The agents' "blob fetched" lines for the layer since `since`, by host number. */
async function layerFetches(since: number): Promise<Map<number, TPlatformLogLine["fields"][]>> {
  const out = new Map<number, TPlatformLogLine["fields"][]>();
  for (const l of await platformLogLines(platform.logPath, since)) {
    if (l.msg !== "blob fetched" || l.fields.digest !== layer.digest) continue;
    const n = Number(l.service.replace("node-", ""));
    out.set(n, [...(out.get(n) ?? []), l.fields]);
  }
  return out;
}

/** Bytes of the layer the console sent since `since` (its "blob sent" lines). */
async function consoleSent(since: number): Promise<number> {
  return (await platformLogLines(platform.logPath, since))
    .filter((l) => l.service === "console" && l.msg === "blob sent" && l.fields.digest === layer.digest)
    .reduce((sum, l) => sum + Number(l.fields.bytes ?? 0), 0);
}

describe("image distribution: a new build's layer travels between node hosts, not through the console", () => {
  beforeAll(async () => {
    platform = await useMultinodePlatform();
    work = await mkdtemp(join(tmpdir(), "formation-image-distribution-"));
    project = await setUpExampleProject({ work, url: platform.url, password: "image distribution" });
    // A layer no host holds yet: the same example with one more line. The example's own layer is
    // ~1 MB (python3 is in the base): 20 MB that do not compress make it a layer of several pieces,
    // slow enough through the throttled uplink to kill a download halfway.
    await appendFile(join(project.dir, "app/server.py"), `\n# image distribution ${Date.now()}\n`);
    await appendFile(
      join(project.dir, "Formfile"),
      "\nRUN head -c 20000000 /dev/urandom > /opt/image-distribution.bin\n",
    );
  });

  afterAll(async () => {
    if (builderHost)
      await inRouter(builderHost, ["tc", "qdisc", "del", "dev", "wan0", "root"]).catch(() => undefined);
    if (buildId) {
      // The multinode suite after this file places replicas of its own on these hosts.
      await project.form(["manage", "delete", "--build-id", buildId]).catch(() => undefined);
      await waitFor(
        "the deployment's replicas gone",
        async () => ((await rows()).length === 0 ? true : undefined),
        SECOND(180),
      ).catch(() => undefined);
    }
    await platform?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it("ships to every host: the 3 that did not build it fetch from peers; one killed mid-download resumes and boots a verified image", async () => {
    const built = Date.now();
    buildId = jsonOf<{ buildId: string }>(await project.form(["pack", "build", "--json"])).buildId;
    const result = (await platformLogLines(platform.logPath, built)).find(
      (l) =>
        l.msg === "job completed" && (l.fields.result as { kind?: string } | undefined)?.kind === "build",
    );
    const r = result?.fields.result as { imageDigest: string; sizeBytes: number };
    layer = { digest: r.imageDigest, sizeBytes: r.sizeBytes };
    builderHost = Number(result?.service.replace("node-", ""));
    expect(layer.sizeBytes).toBeGreaterThan(2 * PIECE_BYTES);
    // The builder serves the layer to three hosts at once through a slow uplink.
    await inRouter(builderHost, [
      ...["tc", "qdisc", "add", "dev", "wan0", "root", "tbf"],
      ...["rate", THROTTLE, "burst", "64kb", "latency", "400ms"],
    ]);

    const shipped = Date.now();
    // One replica on every host: the three that did not build it are fresh.
    const ship = project.form(["pack", "ship", "--replicas", "4", "--wait", "--json"], 900_000);
    // A host booting a replica, two pieces into the layer: its agent is killed.
    const victim = await waitFor(
      "a host booting a replica two pieces into the layer",
      async () => {
        await refreshHosts();
        const booting = new Set((await rows()).map((x) => hostOfNode.get(x.nodeId)));
        for (const host of platform.network.layout.hosts) {
          if (host.n === builderHost || !booting.has(host.n)) continue;
          const part = await stat(`${layerFile(host.n)}.part`).catch(() => undefined);
          if (
            part &&
            part.blocks * 512 >= 2 * PIECE_BYTES &&
            part.blocks * 512 < layer.sizeBytes - PIECE_BYTES
          )
            return host.n;
        }
        return undefined;
      },
      SECOND(300),
    );
    const pids = await agentPids(platform, victim);
    expect(pids.length).toBeGreaterThan(0);
    for (const pid of pids) process.kill(pid, "SIGKILL");
    // Full speed again for the rest (the base, on hosts that lack it, comes after the layer).
    await inRouter(builderHost, ["tc", "qdisc", "del", "dev", "wan0", "root"]);
    const shippedRun = await ship;
    expect(shippedRun.code, shippedRun.stderr.slice(-3000)).toBe(0);

    const running = (await rows()).filter((x) => x.status === "running");
    expect(running).toHaveLength(4);
    await refreshHosts();
    const fetches = await layerFetches(shipped);
    const fresh = running.map((x) => hostOfNode.get(x.nodeId) ?? 0).filter((n) => n !== builderHost);
    expect(fresh).toHaveLength(3);
    for (const n of fresh) {
      // Every host that never saw the build received the layer once, all of it from peers.
      const got = (fetches.get(n) ?? []).filter((f) => f.fromCache === false);
      const received = got.reduce((sum, f) => sum + Number(f.fetchedBytes), 0);
      // (The killed host's first attempt logged nothing: what it fetched after its restart is below.)
      if (n !== victim) expect(received, `bytes of the layer into node host ${n}`).toBe(layer.sizeBytes);
      expect(
        got.reduce((sum, f) => sum + Number(f.consoleBytes), 0),
        `from the console into ${n}`,
      ).toBe(0);
      // The image it boots is the one the owner committed to.
      expect((await sha256File(layerFile(n))).digest).toBe(layer.digest);
    }
    // The killed host resumed: after its restart it fetched only the pieces it did not hold.
    const resumed = (fetches.get(victim) ?? []).filter((f) => f.fromCache === false);
    expect(fresh).toContain(victim);
    expect(resumed).toHaveLength(1);
    expect(Number(resumed[0]?.fetchedBytes)).toBeLessThanOrEqual(layer.sizeBytes - 2 * PIECE_BYTES);
    const sent = await consoleSent(shipped);
    process.stderr.write(
      `image distribution: layer ${(layer.sizeBytes / 1e6).toFixed(1)} MB to ${fresh.length} fresh hosts; console sent ${(sent / 1e6).toFixed(1)} MB of it; host ${victim} killed mid-download fetched ${(Number(resumed[0]?.fetchedBytes ?? 0) / 1e6).toFixed(1)} MB after its restart\n`,
    );
    expect(sent).toBeLessThan(1.2 * layer.sizeBytes);
  });

  it("a peer with a corrupt copy has its piece rejected; the piece comes from another holder", async () => {
    // (After test 1: one replica on each of the 4 hosts.)
    await refreshHosts();
    const all = await rows();
    const fresh = all.filter((x) => hostOfNode.get(x.nodeId) !== builderHost);
    // One fresh host gives its replica up and drops its copy of the layer, as its image GC would;
    // another one's copy rots on disk (its running VM keeps the old file open).
    const given = fresh[0];
    const spare = hostOfNode.get(given?.nodeId ?? "") ?? 0;
    const rotten = hostOfNode.get(fresh[1]?.nodeId ?? "") ?? 0;
    expect(spare).toBeGreaterThan(0);
    expect(rotten).toBeGreaterThan(0);
    await project.form(["manage", "delete", "--build-id", buildId, "--instance", given?.instanceId ?? ""]);
    await waitFor(
      `the replica on host ${spare} gone`,
      async () => ((await rows()).length === 3 ? true : undefined),
      SECOND(120),
    );
    await rm(layerFile(spare), { force: true });
    const good = layerFile(rotten);
    await link(good, `${good}.orig`);
    try {
      const bytes = await readFile(good);
      for (let at = 100; at < bytes.length; at += PIECE_BYTES) bytes[at] = (bytes[at] ?? 0) ^ 0xff;
      await writeFile(`${good}.rot`, bytes);
      await rename(`${good}.rot`, good);

      const since = Date.now();
      const ship = await project.form(["pack", "ship", "--replicas", "4", "--wait", "--json"], 900_000);
      expect(ship.code, ship.stderr.slice(-3000)).toBe(0);
      const got = ((await layerFetches(since)).get(spare) ?? []).filter((f) => f.fromCache === false);
      expect(got).toHaveLength(1);
      const fetch = got[0] ?? {};
      process.stderr.write(
        `image distribution: host ${spare} fetched the layer with host ${rotten}'s copy corrupt: ${String(fetch.rejectedPieces)} piece(s) rejected, ${(Number(fetch.peerBytes) / 1e6).toFixed(1)} MB from peers, ${(Number(fetch.consoleBytes) / 1e6).toFixed(1)} MB from the console\n`,
      );
      // Pieces start at a different peer each, so the corrupt holder is asked for at least one.
      expect(Number(fetch.rejectedPieces)).toBeGreaterThanOrEqual(1);
      expect(Number(fetch.fetchedBytes)).toBe(layer.sizeBytes);
      expect((await sha256File(layerFile(spare))).digest).toBe(layer.digest);
    } finally {
      await rename(`${good}.orig`, good);
    }
    expect((await sha256File(good)).digest).toBe(layer.digest);
    const left = await readdir(imagesDir(rotten));
    expect(left.filter((f) => f.endsWith(".orig") || f.endsWith(".rot"))).toEqual([]);
  });
});
