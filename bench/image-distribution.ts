/**
 * Image distribution benchmark (issue #18): what a ship costs the console and each node now that an
 * image is a layer over a shared base (docs/node-agent-vm.md, "Images: base + layer").
 *   npx tsx bench/image-distribution.ts [--nodes 4]
 * On `FORMATION_NODES=4` (fresh node hosts behind NAT, TCG):
 * 1. build the README example and ship 3 replicas: fresh nodes fetch the base and the layer;
 * 2. change one file, build again and ship the new build to the same deployment: the nodes hold the
 *    base, so each fetches only the new layer;
 * 3. one replica at a time on an otherwise idle platform: ship → SSH on the node that built the
 *    image vs on a node that never saw it;
 * and prints, per round: bytes into each node (the agents' `fetchedBytes`, and how many of them
 * came from peer nodes over formnet), the console's egress for the round's image blobs (its
 * "blob sent" log lines), the layer and base sizes, the size of the same build as one
 * self-contained qcow2 (what every replica cost before), and ship → SSH per replica on a node that
 * built the image vs on nodes that never saw it.
 */
import { execFile } from "node:child_process";
import { appendFile, mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs, promisify } from "node:util";
import { FORM_BUNDLE, jsonOf, runForm } from "@/cli/testing";
import { waitFor } from "@/core/formnet/command";
import { setUpExampleProject, type TExampleProject } from "@/scripts/lib/example-project";
import { startMultinodePlatform } from "@/scripts/lib/multinode-test-platform";
import { platformLogLines, type TPlatformLogLine } from "@/scripts/lib/platform-log";

const exec = promisify(execFile);
const { values } = parseArgs({ options: { nodes: { type: "string" } } });
const NODES = Number(values.nodes ?? 4);
const say = (s: string) => process.stdout.write(`${s}\n`);
const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;

type TRound = {
  perHost: Map<string, number>;
  /** Of perHost, bytes from peer nodes. */
  fromPeers: Map<string, number>;
  /** Bytes of the round's image blobs (layer, base) the console sent. */
  consoleEgress: number;
  boots: { host: string; ms: number; endAt: number; fetchMs: number }[];
  builder: string | null;
  /** The image (layer) the round's build produced, from its job result. */
  layerBytes: number;
};

/** What a round's lines say: bytes fetched per host, each boot's duration, the host that built. */
function summarize(lines: TPlatformLogLine[]): TRound {
  const perHost = new Map<string, number>();
  const fromPeers = new Map<string, number>();
  const sent: { digest: string; bytes: number }[] = [];
  const images = new Set<string>();
  const accepted = new Map<string, number>();
  const boots: TRound["boots"] = [];
  const imageReady = new Map<string, number>();
  let builder: string | null = null;
  let layerBytes = 0;
  for (const l of lines) {
    const jobId = String(l.fields.jobId ?? "");
    if (
      (l.msg === "image ready" || l.msg === "image prefetched") &&
      typeof l.fields.fetchedBytes === "number"
    ) {
      perHost.set(l.service, (perHost.get(l.service) ?? 0) + l.fields.fetchedBytes);
      const peer = typeof l.fields.peerBytes === "number" ? l.fields.peerBytes : 0;
      fromPeers.set(l.service, (fromPeers.get(l.service) ?? 0) + peer);
    }
    if (l.service === "console" && l.msg === "blob sent")
      sent.push({ digest: String(l.fields.digest), bytes: Number(l.fields.bytes ?? 0) });
    if (l.msg === "job accepted" && l.fields.kind === "boot") accepted.set(jobId, l.time);
    if (l.msg === "job accepted" && l.fields.kind === "build") builder = l.service;
    const result = l.fields.result as
      | { kind?: string; sizeBytes?: number; imageDigest?: string; baseDigest?: string }
      | undefined;
    if (l.msg === "job completed" && result?.kind === "build") {
      layerBytes = result.sizeBytes ?? 0;
      for (const d of [result.imageDigest, result.baseDigest]) if (d) images.add(d);
    }
    if (l.msg === "image ready") imageReady.set(jobId, l.time);
    if (l.msg === "job completed" && l.fields.kind === "boot" && accepted.has(jobId)) {
      const start = accepted.get(jobId) ?? l.time;
      boots.push({
        host: l.service,
        ms: l.time - start,
        endAt: l.time,
        fetchMs: (imageReady.get(jobId) ?? start) - start,
      });
    }
  }
  const consoleEgress = sent.filter((x) => images.has(x.digest)).reduce((a, x) => a + x.bytes, 0);
  return { perHost, fromPeers, consoleEgress, boots, builder, layerBytes };
}

async function main(): Promise<void> {
  await exec(process.execPath, [join(import.meta.dirname, "../scripts/build-cli.mjs")]);
  const platform = await startMultinodePlatform({ nodes: NODES });
  say(`platform with ${NODES} node hosts ready (log ${platform.logPath})`);
  const work = await mkdtemp(join(tmpdir(), "formation-image-bench-"));
  try {
    const { form, dir: projectDir } = await setUpExampleProject({
      work,
      url: platform.url,
      password: "image bench",
      bin: FORM_BUNDLE,
    });
    const rounds: { label: string; round: TRound; shipMs: number; layer: number; build: number }[] = [];
    let lastBuild = "";
    for (const label of ["fresh nodes (no base)", "same nodes, new build (base held)"]) {
      if (rounds.length > 0) await appendFile(join(projectDir, "app/server.py"), `\n# build ${Date.now()}\n`);
      const from = Date.now();
      const b0 = Date.now();
      const { buildId } = jsonOf<{ buildId: string }>(await form(["pack", "build", "--json"]));
      const buildMs = Date.now() - b0;
      lastBuild = buildId;
      const s0 = Date.now();
      await form(["pack", "ship", "--replicas", "3"]);
      // Three replicas of this build running (a new build's ship is a rollout: the old ones run
      // until then), and their boots (and the standby's prefetch) in the log.
      const round = await waitFor(
        "3 replicas of the new build running, their boots logged",
        async () => {
          const rows = jsonOf<{ status: string }[]>(
            await form(["manage", "get-ip", "--build-id", buildId, "--json"]),
          );
          if (rows.filter((r) => r.status === "running").length < 3) return undefined;
          const r = summarize(await platformLogLines(platform.logPath, from));
          return r.boots.length >= 3 ? r : undefined;
        },
        { timeoutMs: 600_000, intervalMs: 1000 },
      );
      const shipMs = Math.max(...round.boots.map((b) => b.endAt)) - s0;
      rounds.push({ label, round, shipMs, layer: round.layerBytes, build: buildMs });
      const into = [...round.perHost.entries()].map(([h, b]) => `${h} ${mb(b)}`).join(", ");
      say(
        `${label}: build ${secs(buildMs)}, layer ${mb(round.layerBytes)}; ship → 3 running ${secs(shipMs)}`,
      );
      say(
        `  bytes into nodes: ${into || "none"} (from peers ${mb(sum(round.fromPeers))} of ${mb(sum(round.perHost))}); console image egress ${mb(round.consoleEgress)}`,
      );
      say(
        `  boots: ${round.boots.map((b) => `${b.host}${b.host === round.builder ? " (built it)" : ""} ${secs(b.ms)} (fetching ${secs(b.fetchMs)})`).join(", ")}`,
      );
    }
    const alone = await singleReplicaShips({
      form,
      projectDir,
      logPath: platform.logPath,
      previous: lastBuild,
    });
    const onBuilder = alone.filter((a) => a.onBuilder).map((a) => a.ms);
    const onFresh = alone.filter((a) => !a.onBuilder).map((a) => a.ms);
    say(
      `one replica alone, ship → SSH: on the node that built it ${onBuilder.map(secs).join(", ") || "–"}; on a node that never saw the build ${onFresh.map(secs).join(", ") || "–"} (fetching ${alone
        .filter((a) => !a.onBuilder)
        .map((a) => secs(a.fetchMs))
        .join(", ")} of it)`,
    );
    if (onBuilder.length > 0 && onFresh.length > 0)
      say(
        `ship → SSH, never saw the build / built it: ${(median(onFresh) / median(onBuilder)).toFixed(2)}× (medians)`,
      );
    const base = await baseSize();
    say(
      `base blob: ${mb(base.bytes)}; one self-contained qcow2 of the last build: ${mb(base.selfContained)}`,
    );
    const last = rounds.at(-1);
    if (last) {
      const perReplica = Math.max(...last.round.perHost.values());
      say(
        `bytes into a node per replica, base held: ${mb(perReplica)} = ${((100 * perReplica) / base.selfContained).toFixed(1)}% of a self-contained image`,
      );
      say(
        `console egress, 3-replica ship, base held: ${mb(last.round.consoleEgress)} = ${(last.round.consoleEgress / last.layer).toFixed(2)}× one layer`,
      );
    }
  } finally {
    await runForm({
      args: ["manage", "leave"],
      env: { FORMKIT: join(work, "kit"), FORM_PASSWORD: "image bench" },
    }).catch(() => undefined);
    await platform.stop();
    await rm(work, { recursive: true, force: true });
  }
}

/**
 * Ship → SSH with one replica on an otherwise idle platform (three TCG boots at once on 2 cores
 * measure CPU contention, not distribution): the previous deployment goes, then new builds are
 * shipped one replica at a time (each deleted after) until there are two samples of each kind —
 * placed on the node that built it, or on a node that never saw it (placement follows the build id).
 */
async function singleReplicaShips(o: {
  form: TExampleProject["form"];
  projectDir: string;
  logPath: string;
  previous: string;
}): Promise<{ onBuilder: boolean; ms: number; fetchMs: number }[]> {
  const gone = async (buildId: string) => {
    await o.form(["manage", "delete", "--build-id", buildId]);
    await waitFor(
      "the deployment's replicas gone",
      async () =>
        jsonOf<unknown[]>(await o.form(["manage", "get-ip", "--build-id", buildId, "--json"])).length === 0
          ? true
          : undefined,
      { timeoutMs: 180_000, intervalMs: 1000 },
    );
  };
  if (o.previous) await gone(o.previous);
  const out: { onBuilder: boolean; ms: number; fetchMs: number }[] = [];
  for (let i = 0; i < 8; i++) {
    const count = (onBuilder: boolean) => out.filter((x) => x.onBuilder === onBuilder).length;
    if (count(true) >= 2 && count(false) >= 2) break;
    await appendFile(join(o.projectDir, "app/server.py"), `\n# single ${Date.now()}\n`);
    const from = Date.now();
    const { buildId } = jsonOf<{ buildId: string }>(await o.form(["pack", "build", "--json"]));
    await o.form(["pack", "ship", "--replicas", "1", "--wait"]);
    const lines = await platformLogLines(o.logPath, from);
    const round = summarize(lines);
    const boot = round.boots[0];
    if (boot) {
      const onBuilder = boot.host === round.builder;
      if (count(onBuilder) < 2) out.push({ onBuilder, ms: boot.ms, fetchMs: boot.fetchMs });
    }
    await gone(buildId);
  }
  return out;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] ?? 0) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
}

function sum(m: Map<string, number>): number {
  return [...m.values()].reduce((a, b) => a + b, 0);
}

/** The newest layer in the builder cache: its base's size and what it is as one whole image. */
async function baseSize(): Promise<{ bytes: number; selfContained: number }> {
  const { stdout } = await exec("sh", ["-c", "ls -t /var/cache/formation/images/*/image.qcow2 | head -1"]);
  const layer = stdout.trim();
  const info = JSON.parse(
    (await exec("qemu-img", ["info", "--output=json", "--backing-chain", layer])).stdout,
  ) as {
    filename: string;
    "actual-size": number;
  }[];
  const baseFile = info.at(-1)?.filename ?? "";
  const whole = join(tmpdir(), `formation-image-bench-${process.pid}.qcow2`);
  await exec("qemu-img", ["convert", "-O", "qcow2", layer, whole]);
  try {
    return { bytes: (await stat(baseFile)).size, selfContained: (await stat(whole)).size };
  } finally {
    await rm(whole, { force: true });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
