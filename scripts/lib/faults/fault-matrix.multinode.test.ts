import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FORM_BUNDLE } from "../../../cli/testing";
import { setUpExampleProject } from "../example-project";
import { type TMultinodePlatform, useMultinodePlatform } from "../multinode-test-platform";
import { ALL_CELLS, CHEAP_CELLS, FAULT_LABEL, renderMatrix, type TCellOutcome } from "./matrix";
import { prepareMatrix, runCell, type TMatrixContext } from "./run-cell";

/**
 * The fault matrix on the shared multinode platform, real processes throughout: each cell kills
 * (or, for the chain, stops) one part at one phase of a deploy and checks that the work completed
 * or failed with a reason, that nothing ran twice, that no job was left unfinished and that the
 * node hosts hold nothing more than before. `npm test` runs the cheap cells;
 * FORMATION_FAULT_MATRIX=full runs all of them (`npx tsx bench/fault-matrix.ts` prints the table).
 */
const cells = process.env.FORMATION_FAULT_MATRIX === "full" ? ALL_CELLS : CHEAP_CELLS;

let platform: TMultinodePlatform;
let work = "";
let ctx: TMatrixContext | null = null;
const outcomes: TCellOutcome[] = [];

describe("fault matrix: a fault at a phase of a deploy, then recovery", () => {
  beforeAll(async () => {
    platform = await useMultinodePlatform();
    work = await mkdtemp(join(tmpdir(), "formation-fault-matrix-"));
    const project = await setUpExampleProject({
      work,
      url: platform.url,
      password: "fault matrix",
      bin: FORM_BUNDLE,
    });
    ctx = await prepareMatrix({
      platform,
      project,
      bin: FORM_BUNDLE,
      say: (l) => process.stderr.write(`${l}\n`),
    });
  });

  afterAll(async () => {
    if (outcomes.length > 0) process.stderr.write(`${renderMatrix(outcomes)}\n`);
    await ctx?.db.$disconnect();
    await platform?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  for (const cell of cells) {
    it(`${FAULT_LABEL[cell.fault]} while ${cell.phase}: completes or fails with a reason, nothing twice, no job lost, nothing left`, async () => {
      if (!ctx) throw new Error("the matrix was not set up");
      const outcome = await runCell(ctx, cell);
      outcomes.push(outcome);
      expect(outcome.problems).toEqual([]);
      expect(outcome.verdict, outcome.detail).not.toBe("broken");
    });
  }
});
