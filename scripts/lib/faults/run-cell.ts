import { randomBytes } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { runForm, type TFormRun } from "../../../cli/testing";
import { waitFor } from "../../../core/formnet/command";
import { readStatusFile } from "../../../node-agent/config/status-file";
import { qemuName } from "../../../node-agent/hypervisor/qemu-args";
import { createDatabase, type TDatabase } from "../../../server/db/client";
import type { TExampleProject } from "../example-project";
import { consoleAnswers, type TMultinodePlatform } from "../multinode-test-platform";
import { platformLogLines, type TPlatformLogLine } from "../platform-log";
import {
  agentPids,
  buildVmsOfHost,
  grownResources,
  hostResources,
  nodeDir,
  platformPids,
  qemuOfHost,
  qemuPids,
  type THostResources,
} from "./host-probe";
import { cellName, type TCell, type TCellOutcome, type TFault, type TVerdict } from "./matrix";

/** How long the chain's processes stay stopped (SIGSTOP): its RPC answers nothing meanwhile. */
const CHAIN_OUTAGE_MS = 20_000;
const SETTLE_MS = 300_000;
const POLL = { intervalMs: 250 };
/** Instance states in which a replica holds (or is about to hold) a VM. */
const ACTIVE = new Set(["pending", "booting", "running", "stopping"]);

export type TMatrixContext = {
  platform: TMultinodePlatform;
  project: TExampleProject;
  /** The `form` entry (the bundle). */
  bin: string;
  /** The deploy cells' build (the README example, renamed), built once. */
  buildId: string;
  db: TDatabase;
  /** The Formfile as shipped; build cells rewrite it and put it back. */
  formfile: string;
  say(line: string): void;
};

/**
 * Sets the matrix up on a running platform: the README example as its own deployment
 * (`NAME fault-matrix`, so it never touches another test's), built once (a builder cache hit on a
 * warm machine).
 */
export async function prepareMatrix(opts: {
  platform: TMultinodePlatform;
  project: TExampleProject;
  bin: string;
  say(line: string): void;
}): Promise<TMatrixContext> {
  const path = join(opts.project.dir, "Formfile");
  const formfile = (await readFile(path, "utf8")).replace(/^NAME .*$/m, "NAME fault-matrix");
  await writeFile(path, formfile);
  const built = await opts.project.form(["pack", "build", "--json"]);
  const { buildId } = JSON.parse(built.stdout) as { buildId: string };
  const db = createDatabase(`file:${join(opts.platform.dataDir, "console.db")}`);
  return { ...opts, buildId, db, formfile };
}

const form = (ctx: TMatrixContext, args: string[], timeoutMs = 900_000): Promise<TFormRun> =>
  runForm({ args, env: ctx.project.env, cwd: ctx.project.dir, timeoutMs, bin: ctx.bin });

/** The last `error…` line `form` printed (its reason), or its stderr's last line. */
const reasonOf = (run: TFormRun) => {
  const lines = run.stderr.trim().split("\n");
  const line = lines.findLast((l) => /error|failed/i.test(l)) ?? lines.at(-1) ?? "";
  // The reason, without the chain of causes (a command line can be long).
  return line.split(": caused by: ")[0]?.trim().slice(0, 300) ?? "";
};

async function allResources(ctx: TMatrixContext): Promise<Map<number, THostResources>> {
  const map = new Map<number, THostResources>();
  for (const host of ctx.platform.network.layout.hosts)
    map.set(host.n, await hostResources(ctx.platform, host.n));
  return map;
}

async function hostOfNode(ctx: TMatrixContext, nodeId: string): Promise<number> {
  for (const host of ctx.platform.network.layout.hosts) {
    const status = await readStatusFile(join(nodeDir(ctx.platform, host.n), "agent", "status.json"));
    if (status?.nodeId === nodeId) return host.n;
  }
  throw new Error(`no node host runs node ${nodeId}`);
}

const hostOfService = (line: TPlatformLogLine) => Number(line.service.replace(/^node-/, ""));

async function logSince(
  ctx: TMatrixContext,
  since: number,
  match: (l: TPlatformLogLine) => boolean,
  what: string,
) {
  return waitFor(what, async () => (await platformLogLines(ctx.platform.logPath, since)).find(match), {
    timeoutMs: 300_000,
    ...POLL,
  });
}

function kill(pids: number[], signal: NodeJS.Signals): number[] {
  const hit: number[] = [];
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
      hit.push(pid);
    } catch {
      // Gone already.
    }
  }
  return hit;
}

/**
 * Injects `fault` on node host `n` (agent, QEMU of `target`) or on the platform (console, chain):
 * SIGKILL, or for the chain a 20 s stop. Returns what was hit, for the cell's detail.
 */
async function inject(
  ctx: TMatrixContext,
  fault: TFault,
  where: { n: number; qemu: "build" | string },
): Promise<string> {
  switch (fault) {
    case "agent": {
      if (kill(await agentPids(ctx.platform, where.n), "SIGKILL").length === 0)
        throw new Error(`no agent process on node host ${where.n}`);
      return `agent of node host ${where.n} killed`;
    }
    case "qemu": {
      const marker = where.qemu === "build" ? "formation-build" : qemuName(where.qemu);
      const what = where.qemu === "build" ? "build VM" : "VM";
      // A VM being deleted may be down before it can be hit: then there is nothing to kill.
      const pids = await waitFor(
        `the ${what}'s QEMU on node host ${where.n}`,
        async () => {
          const mine = new Set(await qemuOfHost(ctx.platform, where.n));
          const found = (await qemuPids([marker])).filter((p) => mine.has(p));
          return found.length > 0 ? found : undefined;
        },
        { timeoutMs: where.qemu === "build" ? 120_000 : 10_000, ...POLL },
      ).catch(() => [] as number[]);
      if (pids.length === 0)
        return `no QEMU left to kill on node host ${where.n} (the ${what} was already down)`;
      kill(pids, "SIGKILL");
      return `QEMU ${pids.join(",")} on node host ${where.n} killed`;
    }
    case "console": {
      const pids = await platformPids(ctx.platform, ["server/main.ts"]);
      if (kill(pids, "SIGKILL").length === 0) throw new Error("no console process");
      return "console killed";
    }
    case "chain": {
      const pids = [
        ...(await platformPids(ctx.platform, ["hardhat"])),
        ...(await platformPids(ctx.platform, ["devnet.ts"])),
      ];
      const stopped = kill([...new Set(pids)], "SIGSTOP");
      if (stopped.length === 0) throw new Error("no chain process");
      // Resumed however this process ends: a stopped chain outlives everything (it cannot even
      // notice that its parent is gone).
      const resume = () => kill(stopped, "SIGCONT");
      process.once("exit", resume);
      try {
        await new Promise((r) => setTimeout(r, CHAIN_OUTAGE_MS));
      } finally {
        resume();
        process.off("exit", resume);
      }
      return `chain stopped ${CHAIN_OUTAGE_MS / 1000} s`;
    }
  }
}

/** Jobs created since `since` that are not finished (queued, leased or running). */
async function unfinishedJobs(ctx: TMatrixContext, since: number) {
  return ctx.db.job.findMany({
    where: { createdAt: { gte: new Date(since - 1000) }, state: { in: ["queued", "leased", "running"] } },
    select: { id: true, kind: true, state: true, nodeId: true },
  });
}

/** The build's instances as the console stores them (not deleted). */
async function instancesOf(ctx: TMatrixContext) {
  return ctx.db.instance.findMany({
    where: { buildId: ctx.buildId, status: { not: "deleted" } },
    select: { id: true, nodeId: true, status: true, desired: true, reason: true },
  });
}

/** QEMU processes of each of the build's instances, over every node host. */
async function vmProcessesById(ctx: TMatrixContext): Promise<Map<string, number>> {
  const ids = (await ctx.db.instance.findMany({ where: { buildId: ctx.buildId }, select: { id: true } })).map(
    (i) => i.id,
  );
  const counts = new Map<string, number>();
  for (const id of ids) counts.set(id, (await qemuPids([qemuName(id)])).length);
  return counts;
}

async function vmProcesses(ctx: TMatrixContext): Promise<number> {
  return [...(await vmProcessesById(ctx)).values()].reduce((a, b) => a + b, 0);
}

/** The most QEMU processes any one replica has right now (2 would be one replica running twice). */
async function mostPerReplica(ctx: TMatrixContext): Promise<number> {
  return Math.max(0, ...(await vmProcessesById(ctx)).values());
}

/**
 * Samples a count every 250 ms until stopped and keeps its maximum: "nothing runs twice" is a
 * property of every moment of the cell, not only of its end.
 */
function sampleMax(count: () => Promise<number>): { stop(): Promise<number> } {
  let max = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      max = Math.max(max, await count().catch(() => 0));
      await new Promise((r) => setTimeout(r, 250));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return max;
    },
  };
}

/** Runs one cell and says how it ended; never throws for the platform's misbehaviour (that is the outcome). */
export async function runCell(ctx: TMatrixContext, cell: TCell): Promise<TCellOutcome> {
  const started = Date.now();
  const before = await allResources(ctx);
  const problems: string[] = [];
  let verdict: TVerdict = "broken";
  let detail = "";
  try {
    ({ verdict, detail } =
      cell.phase === "building" || cell.phase === "uploading"
        ? await buildCell(ctx, cell, problems)
        : await deployCell(ctx, cell, problems));
  } catch (error) {
    detail = error instanceof Error ? (error.message.split("\n")[0] ?? "") : String(error);
  }
  await cleanUp(ctx, problems);
  const stuck = await waitFor(
    "every job of the cell finished",
    async () => {
      const open = await unfinishedJobs(ctx, started);
      return open.length === 0 ? [] : Date.now() - started > SETTLE_MS * 2 ? open : undefined;
    },
    { timeoutMs: SETTLE_MS * 3, intervalMs: 1000 },
  );
  for (const job of stuck) problems.push(`job ${job.id} (${job.kind}) still ${job.state}`);
  // The agents remove what a VM or a build held within seconds of the end; give them 60 s.
  let grown: string[] = [];
  await waitFor(
    "the node hosts back to what they held before the cell",
    async () => {
      const after = await allResources(ctx);
      grown = [...after].flatMap(([n, res]) => {
        const was = before.get(n);
        return was ? grownResources(was, res).map((g) => `node host ${n}: ${g}`) : [];
      });
      return grown.length === 0 ? true : undefined;
    },
    { timeoutMs: 60_000, intervalMs: 1000 },
  ).catch(() => undefined);
  problems.push(...grown.map((g) => `left behind: ${g}`));
  const outcome = { ...cell, verdict, detail, problems, seconds: (Date.now() - started) / 1000 };
  ctx.say(
    `fault matrix: ${cellName(cell)} → ${verdict} (${outcome.seconds.toFixed(0)} s): ${[detail, ...problems].join("; ")}`,
  );
  return outcome;
}

/** A build whose RUN step sleeps (fresh nonce: never a cache hit); the fault lands in `phase`. */
async function buildCell(
  ctx: TMatrixContext,
  cell: TCell,
  problems: string[],
): Promise<{ verdict: TVerdict; detail: string }> {
  const path = join(ctx.project.dir, "Formfile");
  const sleep = cell.phase === "building" ? " && sleep 20" : "";
  await writeFile(
    path,
    ctx.formfile
      .replace(/^NAME .*$/m, "NAME fault-matrix-build")
      .replace(/^INSTALL .*$/m, `RUN echo fault-${randomBytes(4).toString("hex")}${sleep}`),
  );
  const since = Date.now();
  const buildVms = sampleMax(async () => {
    let count = 0;
    for (const host of ctx.platform.network.layout.hosts)
      count += (await buildVmsOfHost(ctx.platform, host.n)).length;
    return count;
  });
  try {
    const run = form(ctx, ["pack", "build", "--json"]);
    const accepted = await logSince(
      ctx,
      since,
      (l) => l.kind === "build" && l.msg === "job accepted",
      "the build accepted",
    );
    const n = hostOfService(accepted);
    await logSince(
      ctx,
      since,
      (l) => l.jobId === accepted.jobId && l.msg === "job progress" && l.phase === cell.phase,
      `the build in phase ${cell.phase}`,
    );
    const hit = await inject(ctx, cell.fault, { n, qemu: "build" });
    const result = await run;
    const attempts = await ctx.db.job.findFirst({
      where: { id: accepted.jobId ?? "" },
      select: { attempts: true },
    });
    const detail = `${hit}; ${attempts?.attempts ?? "?"} attempt(s)`;
    if ((await buildVms.stop()) > 1) problems.push("two build VMs ran at once");
    if (result.code === 0) return { verdict: "completed", detail: `${detail}; build done` };
    const reason = reasonOf(result);
    if (reason === "") problems.push("the build failed without a reason");
    return { verdict: "failed with a reason", detail: `${detail}; ${reason}` };
  } finally {
    await buildVms.stop();
    await writeFile(path, ctx.formfile);
  }
}

/** One replica of the matrix's build, shipped; the fault lands in its boot, life, stop or deletion. */
async function deployCell(
  ctx: TMatrixContext,
  cell: TCell,
  problems: string[],
): Promise<{ verdict: TVerdict; detail: string }> {
  const since = Date.now();
  const vms = sampleMax(() => mostPerReplica(ctx));
  try {
    const ship = form(ctx, [
      "pack",
      "ship",
      "--build-id",
      ctx.buildId,
      "--replicas",
      "1",
      "--wait",
      "--json",
    ]);
    const started = await logSince(
      ctx,
      since,
      (l) => l.msg === "vm started" && !!l.instanceId,
      "the replica's VM started",
    );
    const instanceId = started.instanceId ?? "";
    let n = hostOfService(started);
    let action: Promise<TFormRun> | undefined;
    if (cell.phase !== "booting") {
      const shipped = await ship;
      if (shipped.code !== 0) throw new Error(`ship failed before the fault: ${reasonOf(shipped)}`);
      const [row] = await instancesOf(ctx);
      if (row) n = await hostOfNode(ctx, row.nodeId);
      if (cell.phase === "stopping" || cell.phase === "deleting") {
        const verb = cell.phase === "stopping" ? "stop" : "delete";
        const from = Date.now();
        action = form(ctx, ["manage", verb, "--build-id", ctx.buildId, "--json"]);
        await logSince(
          ctx,
          from,
          (l) => l.msg === "job progress" && l.phase === cell.phase && l.service === `node-${n}`,
          `the ${verb} job in phase ${cell.phase}`,
        );
      }
    }
    const hit = await inject(ctx, cell.fault, { n, qemu: instanceId });
    const faultAt = Date.now();
    await consoleAnswers(ctx.platform.url);
    const acted = await (action ?? ship);
    const want = cell.phase === "stopping" ? "stopped" : cell.phase === "deleting" ? "gone" : "running";
    // Settled: the replica is as wanted and its QEMU processes agree (one per running replica,
    // none otherwise) for 3 s in a row — a QEMU killed under a replica still recorded running is
    // not settled until the platform noticed. Failed counts once it stayed failed for 15 s: the
    // console may still be replacing it.
    let okSince = 0;
    let failedSince = 0;
    const settled = await waitFor(
      `the replica ${want}, or failed with a reason`,
      async () => {
        const rows = await instancesOf(ctx);
        const active = rows.filter((r) => ACTIVE.has(r.status));
        const done = rows.filter((r) => r.status === want);
        const ok =
          want === "gone"
            ? rows.length === 0
            : done.length === 1 && active.length === (want === "running" ? 1 : 0);
        if (ok && (await vmProcesses(ctx)) === (want === "running" ? 1 : 0)) {
          okSince ||= Date.now();
          return Date.now() - okSince >= 3_000 ? { rows: done, ok: true } : undefined;
        }
        okSince = 0;
        const failed = rows.filter((r) => r.status === "failed" && r.reason);
        if (failed.length === 0 || active.length > 0) {
          failedSince = 0;
          return undefined;
        }
        failedSince ||= Date.now();
        return Date.now() - failedSince > 15_000 ? { rows: failed, ok: false } : undefined;
      },
      { timeoutMs: SETTLE_MS, intervalMs: 500 },
    ).catch(() => null);
    const seconds = ((Date.now() - faultAt) / 1000).toFixed(0);
    const [row] = settled?.rows ?? [];
    const moved =
      row && row.id !== instanceId
        ? `; replaced by ${row.id} on node host ${await hostOfNode(ctx, row.nodeId)}`
        : "";
    const running = (await instancesOf(ctx)).filter((r) => r.status === "running").length;
    const peak = await vms.stop();
    if (peak > 1) problems.push(`one replica ran in ${peak} QEMU processes at once`);
    if ((await vmProcesses(ctx)) !== running) problems.push(`QEMU processes ≠ running replicas (${running})`);
    if (!settled) {
      const rows = await instancesOf(ctx);
      return {
        verdict: "broken",
        detail: `${hit}; not ${want} after ${SETTLE_MS / 1000} s: ${rows.map((r) => `${r.id} ${r.status} ${r.reason ?? ""}`).join(", ") || "no instance"}`,
      };
    }
    if (settled.ok) return { verdict: "completed", detail: `${hit}; ${want} ${seconds} s after it${moved}` };
    return { verdict: "failed with a reason", detail: `${hit}; ${row?.reason ?? reasonOf(acted)}` };
  } finally {
    await vms.stop();
  }
}

/** Ends the cell's deployment (if any) and waits until its VMs are gone. */
async function cleanUp(ctx: TMatrixContext, problems: string[]): Promise<void> {
  await consoleAnswers(ctx.platform.url);
  if ((await instancesOf(ctx)).length > 0) {
    const run = await form(ctx, ["manage", "delete", "--build-id", ctx.buildId, "--json"]);
    if (run.code !== 0 && !/no instances/.test(run.stderr))
      problems.push(`clean-up delete failed: ${reasonOf(run)}`);
  }
  await waitFor(
    "the cell's replicas deleted and their QEMU gone",
    async () => ((await instancesOf(ctx)).length === 0 && (await vmProcesses(ctx)) === 0 ? true : undefined),
    { timeoutMs: SETTLE_MS, intervalMs: 500 },
  ).catch(() => problems.push("the deployment's VMs outlived its deletion by 5 min"));
}
