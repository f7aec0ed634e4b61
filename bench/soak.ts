/**
 * The soak of issue #21: build + ship + delete, back to back, on one node host of the multinode
 * platform (the README's start command with `FORMATION_NODES=1`: the node behind NAT, TCG), and
 * what the platform holds sampled along the way: console and agent RSS and open fds, QEMU
 * processes, taps, iptables rules, loop devices, mounts, WireGuard interfaces, and the disk the
 * console's blobs and database and the agent's images and cache take.
 *
 *   npx tsx bench/soak.ts [--cycles 200] [--sample-every 10] [--out bench/results/soak.md]
 *
 * Each cycle builds a COPY-only Formfile from a context changed for that cycle (a real build in
 * the build VM, never a cache hit), ships it with one replica and waits until it runs, deletes the
 * deployment and waits until the host holds what it held before. The retention windows are short
 * so that the bounds show within the run (docs/faults.md, "Soak"): the console keeps the images
 * of the 3 newest builds of a NAME (FORMATION_IMAGE_KEEP_BUILDS) and sweeps every 30 s with a 60 s
 * grace; the agent keeps 3 unused images and none used more than 1 min ago. The agent gets a
 * builder cache of its own (the machine's Debian base copied in), so its GC never touches the
 * images other tests cached. Needs root, QEMU and wireguard-go (scripts/setup-host.sh).
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs, promisify } from "node:util";
import { FORM_BUNDLE } from "@/cli/testing";
import { waitFor } from "@/core/formnet/command";
import { DEFAULT_CACHE_DIR } from "@/node-agent/config/schema";
import { setUpExampleProject } from "@/scripts/lib/example-project";
import {
  agentPids,
  grownResources,
  hostResources,
  nodeDir,
  platformPids,
  type THostResources,
} from "@/scripts/lib/faults/host-probe";
import {
  startMultinodePlatform,
  stopOnInterrupt,
  type TMultinodePlatform,
} from "@/scripts/lib/multinode-test-platform";

const exec = promisify(execFile);
const { values } = parseArgs({
  options: {
    cycles: { type: "string", default: "200" },
    "sample-every": { type: "string", default: "10" },
    out: { type: "string" },
  },
});
const CYCLES = Number(values.cycles);
const SAMPLE_EVERY = Number(values["sample-every"]);
const KEEP = 3;
const say = (s: string) => process.stdout.write(`${s}\n`);

type TProcessStats = { rssMb: number; fds: number };
type TSample = {
  cycle: number;
  console: TProcessStats;
  agent: TProcessStats;
  host: THostResources;
  iptablesRules: number;
  diskMb: { blobs: number; database: number; agentData: number; agentCache: number };
};
type TCycle = { build: number; ship: number; delete: number; failed?: string };

async function processStats(pids: number[]): Promise<TProcessStats> {
  let rssKb = 0;
  let fds = 0;
  for (const pid of pids) {
    const status = await readFile(`/proc/${pid}/status`, "utf8").catch(() => "");
    rssKb += Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? 0);
    fds += (await readdir(`/proc/${pid}/fd`).catch(() => [])).length;
  }
  return { rssMb: rssKb / 1024, fds };
}

/** Bytes on disk under `paths` (hard links counted once), in MB. */
async function diskMb(...paths: string[]): Promise<number> {
  const present = paths.filter((p) => existsSync(p));
  if (present.length === 0) return 0;
  const { stdout } = await exec("du", ["-scB1", ...present]);
  return Number(/^(\d+)\s+total$/m.exec(stdout)?.[1] ?? 0) / 1e6;
}

async function sample(platform: TMultinodePlatform, cycle: number, cacheDir: string): Promise<TSample> {
  const netns = platform.network.host(1).nodeNetns;
  let iptablesRules = 0;
  for (const table of ["filter", "nat", "mangle"]) {
    const { stdout } = await exec("ip", ["netns", "exec", netns, "iptables", "-t", table, "-S"]);
    iptablesRules += stdout.split("\n").filter(Boolean).length;
  }
  const db = join(platform.dataDir, "console.db");
  return {
    cycle,
    console: await processStats(await platformPids(platform, ["server/main.ts"])),
    agent: await processStats(await agentPids(platform, 1)),
    host: await hostResources(platform, 1),
    iptablesRules,
    diskMb: {
      blobs: await diskMb(join(platform.dataDir, "blobs")),
      database: await diskMb(db, `${db}-wal`, `${db}-shm`),
      agentData: await diskMb(join(nodeDir(platform, 1), "agent")),
      agentCache: await diskMb(cacheDir),
    },
  };
}

const row = (s: TSample) =>
  `| ${s.cycle} | ${s.console.rssMb.toFixed(0)} | ${s.console.fds} | ${s.agent.rssMb.toFixed(0)} | ${s.agent.fds} | ${s.host.qemu.length} | ${s.host.taps.length} | ${s.host.chains.length} | ${s.iptablesRules} | ${s.host.loops.length} | ${s.host.mounts.length} | ${s.host.wireguard.length} | ${s.diskMb.blobs.toFixed(0)} | ${s.diskMb.database.toFixed(1)} | ${s.diskMb.agentData.toFixed(0)} | ${s.diskMb.agentCache.toFixed(0)} |`;
const HEADER = [
  "| cycle | console RSS MB | console fds | agent RSS MB | agent fds | QEMU | taps | FN chains | iptables rules | loops | mounts | WireGuard | console blobs MB | console DB MB | agent data MB | agent cache MB |",
  "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
];

/** Least-squares slope of `y` over `x`. */
function slope(points: { x: number; y: number }[]): number {
  const n = points.length;
  if (n < 2) return 0;
  const mx = points.reduce((a, p) => a + p.x, 0) / n;
  const my = points.reduce((a, p) => a + p.y, 0) / n;
  const num = points.reduce((a, p) => a + (p.x - mx) * (p.y - my), 0);
  const den = points.reduce((a, p) => a + (p.x - mx) ** 2, 0);
  return den === 0 ? 0 : num / den;
}

/** The agent's own builder cache, with the machine's Debian base (and package cache) copied in. */
async function seedCache(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const part of ["base", "debs"]) {
    const from = join(DEFAULT_CACHE_DIR, part);
    if (existsSync(from)) await exec("cp", ["-a", from, join(dir, part)]);
  }
}

async function timed(what: () => Promise<unknown>): Promise<number> {
  const t = Date.now();
  await what();
  return (Date.now() - t) / 1000;
}

async function main(): Promise<void> {
  await exec(process.execPath, [join(import.meta.dirname, "../scripts/build-cli.mjs")]);
  const work = await mkdtemp(join(tmpdir(), "formation-soak-"));
  // The build VM's and the VMs' QEMU run as an unprivileged user: the cache must be reachable.
  await chmod(work, 0o755);
  const cacheDir = join(work, "cache");
  await seedCache(cacheDir);
  const t0 = Date.now();
  const platform = await startMultinodePlatform({
    nodes: 1,
    env: {
      FORMATION_AGENT_CACHE_DIR: cacheDir,
      FORMATION_AGENT_IMAGES_KEEP_RECENT: String(KEEP),
      FORMATION_AGENT_IMAGES_MIN_AGE_MINUTES: "1",
      FORMATION_IMAGE_KEEP_BUILDS: String(KEEP),
      FORMATION_BLOB_GC_GRACE_MS: "60000",
      FORMATION_BLOB_GC_INTERVAL_MS: "30000",
    },
  });
  stopOnInterrupt(platform, { say, cleanUp: () => rm(work, { recursive: true, force: true }) });
  say(
    `platform with 1 node host ready in ${((Date.now() - t0) / 1000).toFixed(0)} s (log ${platform.logPath})`,
  );
  const samples: TSample[] = [];
  const cycles: TCycle[] = [];
  const started = Date.now();
  try {
    const project = await setUpExampleProject({
      work,
      url: platform.url,
      password: "soak benchmark",
      bin: FORM_BUNDLE,
    });
    const example = await readFile(join(project.dir, "Formfile"), "utf8");
    const user = example.split("\n").find((l) => l.startsWith("USER ")) ?? "";
    await writeFile(
      join(project.dir, "Formfile"),
      ["NAME soak", user, "VCPU 1", "MEM 512", "DISK 5", "COPY ./app /app", ""].join("\n"),
    );
    const baseline = await hostResources(platform, 1);
    samples.push(await sample(platform, 0, cacheDir));
    say([...HEADER, row(samples[0] as TSample)].join("\n"));
    let failuresInARow = 0;
    for (let i = 1; i <= CYCLES; i++) {
      const cycle: TCycle = { build: 0, ship: 0, delete: 0 };
      try {
        await writeFile(join(project.dir, "app", "soak-cycle.txt"), `cycle ${i} ${Date.now()}\n`);
        let buildId = "";
        cycle.build = await timed(async () => {
          const built = await project.form(["pack", "build", "--json"]);
          buildId = (JSON.parse(built.stdout) as { buildId: string }).buildId;
        });
        cycle.ship = await timed(() => project.form(["pack", "ship", "--replicas", "1", "--wait"]));
        cycle.delete = await timed(async () => {
          await project.form(["manage", "delete", "--build-id", buildId]);
          // Deleted means gone from the host: no QEMU, tap, chain, loop or mount of it is left.
          await waitFor(
            "the host back to what it held before the cycle",
            async () => grownResources(baseline, await hostResources(platform, 1)).length === 0 || undefined,
            { timeoutMs: 120_000, intervalMs: 250 },
          );
        });
        failuresInARow = 0;
      } catch (error) {
        cycle.failed = (error instanceof Error ? error.message : String(error))
          .split("\n")
          .slice(0, 3)
          .join(" ");
        failuresInARow++;
      }
      cycles.push(cycle);
      say(
        `cycle ${i}: build ${cycle.build.toFixed(1)} s, ship ${cycle.ship.toFixed(1)} s, delete ${cycle.delete.toFixed(1)} s${cycle.failed ? ` — FAILED: ${cycle.failed}` : ""}`,
      );
      if (i % SAMPLE_EVERY === 0 || i === CYCLES) {
        const s = await sample(platform, i, cacheDir);
        samples.push(s);
        say(row(s));
      }
      if (failuresInARow >= 3) {
        say("three cycles in a row failed: stopping the soak");
        break;
      }
    }
  } finally {
    await platform.stop();
    await rm(work, { recursive: true, force: true });
  }
  const minutes = (Date.now() - started) / 60_000;
  const ok = cycles.filter((c) => !c.failed);
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
  const warm = samples.filter((s) => s.cycle >= SAMPLE_EVERY * 2);
  const per100 = (pick: (s: TSample) => number) =>
    (slope(warm.map((s) => ({ x: s.cycle, y: pick(s) }))) * 100).toFixed(1);
  const first = samples[0];
  const last = samples.at(-1);
  const peak = (pick: (s: TSample) => number) => Math.max(...samples.map(pick)).toFixed(0);
  const report = [
    "# Soak (issue #21)",
    "",
    `## ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC: ${ok.length} of ${cycles.length} cycles in ${minutes.toFixed(1)} min (${(cycles.length / minutes).toFixed(2)} cycles/min)`,
    "",
    `Command: \`npx tsx bench/soak.ts --cycles ${CYCLES} --sample-every ${SAMPLE_EVERY}\` (the README's start command with \`FORMATION_NODES=1\`: one node host behind NAT, TCG, 2 cores).`,
    `Each cycle: a COPY-only build from a changed context (build VM), ship with 1 replica and wait until it runs, delete the deployment and wait until the host holds what it held before. Retention: console keeps the images of the ${KEEP} newest builds of a NAME, sweeps every 30 s with a 60 s grace; agent keeps ${KEEP} unused images, none used over 1 min ago.`,
    "",
    `Median per cycle: build ${median(ok.map((c) => c.build)).toFixed(1)} s, ship → running ${median(ok.map((c) => c.ship)).toFixed(1)} s, delete → host clean ${median(ok.map((c) => c.delete)).toFixed(1)} s.`,
    ...(cycles.some((c) => c.failed)
      ? [
          "",
          "Failed cycles:",
          ...cycles.flatMap((c, i) => (c.failed ? [`- cycle ${i + 1}: ${c.failed}`] : [])),
        ]
      : []),
    "",
    `Growth per 100 cycles after warm-up (least-squares slope over the samples from cycle ${SAMPLE_EVERY * 2} on): console RSS ${per100((s) => s.console.rssMb)} MB, console fds ${per100((s) => s.console.fds)}, agent RSS ${per100((s) => s.agent.rssMb)} MB, agent fds ${per100((s) => s.agent.fds)}, console DB ${per100((s) => s.diskMb.database)} MB, console blobs ${per100((s) => s.diskMb.blobs)} MB, agent data ${per100((s) => s.diskMb.agentData)} MB, agent cache ${per100((s) => s.diskMb.agentCache)} MB.`,
    `Peaks: console blobs ${peak((s) => s.diskMb.blobs)} MB, agent data ${peak((s) => s.diskMb.agentData)} MB, agent cache ${peak((s) => s.diskMb.agentCache)} MB. Host counts at the end vs the start: ${first && last ? `QEMU ${first.host.qemu.length} → ${last.host.qemu.length}, taps ${first.host.taps.length} → ${last.host.taps.length}, FN chains ${first.host.chains.length} → ${last.host.chains.length}, iptables rules ${first.iptablesRules} → ${last.iptablesRules}, loops ${first.host.loops.length} → ${last.host.loops.length}, mounts ${first.host.mounts.length} → ${last.host.mounts.length}, WireGuard ${first.host.wireguard.length} → ${last.host.wireguard.length}` : "–"}.`,
    "",
    ...HEADER,
    ...samples.map(row),
  ].join("\n");
  say("");
  say(report);
  if (values.out) await writeFile(values.out, `${report}\n`);
  if (ok.length < cycles.length || cycles.length < CYCLES) process.exitCode = 1;
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
