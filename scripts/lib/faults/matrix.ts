/**
 * The fault matrix (issue #21): one fault injected into a real multinode platform at one phase of
 * a deploy, then the platform is left to recover. A cell passes when the work either completed or
 * failed with a reason, nothing ran twice, no job was left unfinished, and the node hosts hold
 * nothing more than before (QEMU, taps, iptables chains, WireGuard interfaces, loop devices,
 * mounts, build work dirs). `scripts/lib/faults/fault-matrix.multinode.test.ts` runs the cheap
 * cells on every `npm test` and every cell with FORMATION_FAULT_MATRIX=full; `bench/fault-matrix.ts`
 * prints the table.
 */
export const FAULTS = ["agent", "qemu", "console", "chain"] as const;
export type TFault = (typeof FAULTS)[number];

/**
 * Phases a fault can be held at: a build's RUN step and its image upload; a replica's boot, its
 * running life, its stop and its deletion. (A queued job is covered by the job service's unit tests;
 * fetching and distributing take well under a second on the local network, so a fault aimed at
 * them lands in the next phase.)
 */
export const PHASES = ["building", "uploading", "booting", "running", "stopping", "deleting"] as const;
export type TPhase = (typeof PHASES)[number];

export type TCell = { fault: TFault; phase: TPhase };

export const FAULT_LABEL: Record<TFault, string> = {
  agent: "agent SIGKILL",
  qemu: "QEMU SIGKILL",
  console: "console SIGKILL",
  chain: "chain unreachable 20 s",
};

/** No QEMU runs while a built image is uploaded: the build VM is gone and no replica boots yet. */
export function applicable(cell: TCell): boolean {
  return !(cell.fault === "qemu" && cell.phase === "uploading");
}

export const ALL_CELLS: TCell[] = FAULTS.flatMap((fault) => PHASES.map((phase) => ({ fault, phase }))).filter(
  applicable,
);

/**
 * The cells `npm test` runs every time (20–40 s each on the shared platform): one per kind of
 * process fault, at a phase where recovery needs the platform's help and comes fast — the agent
 * while a replica boots (the job resumes on its restart), the replica's QEMU while it runs (restarted
 * in place, not replaced), the console while a replica boots (the agents reconnect and finish).
 */
export const CHEAP_CELLS: TCell[] = [
  { fault: "agent", phase: "booting" },
  { fault: "qemu", phase: "running" },
  { fault: "console", phase: "booting" },
];

export type TVerdict = "completed" | "failed with a reason" | "broken";

export type TCellOutcome = TCell & {
  verdict: TVerdict;
  /** What happened, in a few words (e.g. "re-leased to node host 2; running after 14 s"). */
  detail: string;
  /** Invariants the cell broke (duplicates, unfinished jobs, leftovers); empty when it passed. */
  problems: string[];
  seconds: number;
};

export const cellName = (cell: TCell) => `${cell.fault}@${cell.phase}`;

/** `agent@booting,qemu@running` → cells; throws on a name that is not a cell. */
export function parseCells(list: string): TCell[] {
  return list
    .split(",")
    .filter(Boolean)
    .map((name) => {
      const cell = ALL_CELLS.find((c) => cellName(c) === name.trim());
      if (!cell)
        throw new Error(
          `not a cell of the fault matrix: ${name} (one of ${ALL_CELLS.map(cellName).join(", ")})`,
        );
      return cell;
    });
}

/** The table: a row per fault, a column per phase; "–" where the fault cannot happen, "·" not run. */
export function renderMatrix(outcomes: TCellOutcome[]): string {
  const lines = [`| fault \\ phase | ${PHASES.join(" | ")} |`, `|---|${PHASES.map(() => "---").join("|")}|`];
  for (const fault of FAULTS) {
    const cells = PHASES.map((phase) => {
      if (!applicable({ fault, phase })) return "–";
      const o = outcomes.find((x) => x.fault === fault && x.phase === phase);
      if (!o) return "·";
      const mark = o.problems.length === 0 && o.verdict !== "broken" ? "✓" : "✗";
      const text = [o.detail, ...o.problems].join("; ").replaceAll("|", "\\|");
      return `${mark} ${o.verdict} (${o.seconds.toFixed(0)} s): ${text}`;
    });
    lines.push(`| ${FAULT_LABEL[fault]} | ${cells.join(" | ")} |`);
  }
  return lines.join("\n");
}
