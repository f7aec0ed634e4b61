/**
 * The fault matrix (issue #21) as a table: fault × phase → outcome, on a multinode platform of
 * its own (`FORMATION_NODES=3`, node hosts behind NAT, the README's start command):
 *   npx tsx bench/fault-matrix.ts [--nodes 3] [--cells agent@booting,qemu@running]
 * Every cell by default (about 20 min on 2 cores); prints each outcome as it ends, then the table,
 * which `--out FILE` also writes (bench/results/fault-matrix.md). Needs root, QEMU, wireguard-go.
 */
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs, promisify } from "node:util";
import { FORM_BUNDLE } from "@/cli/testing";
import { setUpExampleProject } from "@/scripts/lib/example-project";
import { ALL_CELLS, parseCells, renderMatrix, type TCellOutcome } from "@/scripts/lib/faults/matrix";
import { prepareMatrix, runCell } from "@/scripts/lib/faults/run-cell";
import { startMultinodePlatform, stopOnInterrupt } from "@/scripts/lib/multinode-test-platform";

const { values } = parseArgs({
  options: { nodes: { type: "string" }, cells: { type: "string" }, out: { type: "string" } },
});
const NODES = Number(values.nodes ?? 3);
const cells = values.cells ? parseCells(values.cells) : ALL_CELLS;
const say = (s: string) => process.stdout.write(`${s}\n`);

async function main(): Promise<void> {
  await promisify(execFile)(process.execPath, [join(import.meta.dirname, "../scripts/build-cli.mjs")]);
  const t0 = Date.now();
  const platform = await startMultinodePlatform({ nodes: NODES });
  stopOnInterrupt(platform, { say });
  say(
    `platform with ${NODES} node hosts ready in ${((Date.now() - t0) / 1000).toFixed(0)} s (log ${platform.logPath})`,
  );
  const work = await mkdtemp(join(tmpdir(), "formation-fault-matrix-"));
  const outcomes: TCellOutcome[] = [];
  try {
    const project = await setUpExampleProject({
      work,
      url: platform.url,
      password: "fault matrix",
      bin: FORM_BUNDLE,
    });
    const ctx = await prepareMatrix({ platform, project, bin: FORM_BUNDLE, say });
    try {
      for (const cell of cells) outcomes.push(await runCell(ctx, cell));
    } finally {
      await ctx.db.$disconnect();
    }
  } finally {
    await platform.stop();
    await rm(work, { recursive: true, force: true });
  }
  const passed = outcomes.filter((o) => o.verdict !== "broken" && o.problems.length === 0).length;
  const command = `npx tsx bench/fault-matrix.ts --nodes ${NODES}${values.cells ? ` --cells ${values.cells}` : ""}`;
  const table = [
    "# Fault matrix (issue #21)",
    "",
    `## ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC: ${passed} of ${outcomes.length} cells recovered`,
    "",
    `Command: \`${command}\` (the README's start command with \`FORMATION_NODES=${NODES}\`: node hosts behind NAT, TCG; ${((Date.now() - t0) / 60_000).toFixed(0)} min).`,
    "Each cell ships (or builds) the README example, injects one fault at one phase, waits for the outcome, deletes the",
    "deployment and compares the hosts with before (docs/faults.md). ✓: completed or failed with a reason, nothing ran",
    "twice, no job left open, nothing left behind; ✗: the broken promise is named; –: the fault cannot happen then.",
    "",
    renderMatrix(outcomes),
  ].join("\n");
  say("");
  say(table);
  if (values.out) await writeFile(values.out, `${table}\n`);
  if (passed < outcomes.length) process.exitCode = 1;
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
