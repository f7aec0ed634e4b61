/**
 * Image distribution benchmark (issue #18): what a ship costs the console and each node now that an
 * image is a layer over a shared base (docs/node-agent-vm.md, "Images: base + layer").
 *   npx tsx bench/image-distribution.ts [--nodes 4]
 * On `FORMATION_NODES=4` (fresh node hosts behind NAT, TCG):
 * 1. build the README example and ship 3 replicas: fresh nodes fetch the base and the layer;
 * 2. change one file, build again and ship the new build to the same deployment: the nodes hold the
 *    base, so each fetches only the new layer;
 * and prints, per round: bytes into each node (the agents' `fetchedBytes`), the console's egress
 * for images (their sum: every fetch comes from the console), the layer and base sizes, the size
 * of the same build as one self-contained qcow2 (what every replica cost before), and ship → SSH
 * per replica on a node that built the image vs on nodes that never saw it.
 */
import { execFile } from "node:child_process";
import { appendFile, mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs, promisify } from "node:util";
import { FORM_BUNDLE, jsonOf, runForm } from "@/cli/testing";
import { waitFor } from "@/core/formnet/command";
import { setUpExampleProject } from "@/scripts/lib/example-project";
import { startMultinodePlatform } from "@/scripts/lib/multinode-test-platform";

const exec = promisify(execFile);
const { values } = parseArgs({ options: { nodes: { type: "string" } } });
const NODES = Number(values.nodes ?? 4);
const say = (s: string) => process.stdout.write(`${s}\n`);
const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;

type TLogLine = { host: string; at: number; msg: string; fields: Record<string, unknown> };

/** The agents' JSON log lines in the platform log (`[node-N] {…}`), from byte `from` on. */
async function agentLines(logPath: string, from: number): Promise<TLogLine[]> {
  const text = (await readFile(logPath)).subarray(from).toString("utf8");
  const out: TLogLine[] = [];
  for (const line of text.split("\n")) {
    const m = /\[(node-\d+)[^\]]*\]\s*(\{.*\})\s*$/.exec(line);
    if (!m?.[1] || !m[2]) continue;
    try {
      const fields = JSON.parse(m[2]) as Record<string, unknown>;
      out.push({ host: m[1], at: Date.parse(String(fields.time)), msg: String(fields.msg), fields });
    } catch {
      // not JSON: a child's plain output
    }
  }
  return out;
}

type TRound = {
  perHost: Map<string, number>;
  boots: { host: string; ms: number; endAt: number }[];
  builder: string | null;
  /** The image (layer) the round's build produced, from its job result. */
  layerBytes: number;
};

/** What a round's lines say: bytes fetched per host, each boot's duration, the host that built. */
function summarize(lines: TLogLine[]): TRound {
  const perHost = new Map<string, number>();
  const accepted = new Map<string, number>();
  const boots: { host: string; ms: number; endAt: number }[] = [];
  let builder: string | null = null;
  let layerBytes = 0;
  for (const l of lines) {
    const jobId = String(l.fields.jobId ?? "");
    if (
      (l.msg === "image ready" || l.msg === "image prefetched") &&
      typeof l.fields.fetchedBytes === "number"
    )
      perHost.set(l.host, (perHost.get(l.host) ?? 0) + l.fields.fetchedBytes);
    if (l.msg === "job accepted" && l.fields.kind === "boot") accepted.set(jobId, l.at);
    if (l.msg === "job accepted" && l.fields.kind === "build") builder = l.host;
    const result = l.fields.result as { kind?: string; sizeBytes?: number } | undefined;
    if (l.msg === "job completed" && result?.kind === "build") layerBytes = result.sizeBytes ?? 0;
    if (l.msg === "job completed" && l.fields.kind === "boot" && accepted.has(jobId))
      boots.push({ host: l.host, ms: l.at - (accepted.get(jobId) ?? l.at), endAt: l.at });
  }
  return { perHost, boots, builder, layerBytes };
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
    for (const label of ["fresh nodes (no base)", "same nodes, new build (base held)"]) {
      if (rounds.length > 0) await appendFile(join(projectDir, "app/server.py"), `\n# build ${Date.now()}\n`);
      const from = (await stat(platform.logPath)).size;
      const b0 = Date.now();
      const { buildId } = jsonOf<{ buildId: string }>(await form(["pack", "build", "--json"]));
      const buildMs = Date.now() - b0;
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
          const r = summarize(await agentLines(platform.logPath, from));
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
      say(`  bytes into nodes: ${into || "none"}; console image egress ${mb(sum(round.perHost))}`);
      say(
        `  boots: ${round.boots.map((b) => `${b.host}${b.host === round.builder ? " (built it)" : ""} ${secs(b.ms)}`).join(", ")}`,
      );
    }
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
        `console egress, 3-replica ship, base held: ${mb(sum(last.round.perHost))} = ${(sum(last.round.perHost) / last.layer).toFixed(2)}× one layer`,
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
