import type { TJobKind } from "@/lib/protocol";

/** Kinds that take a slot of the agent's announced concurrency (lifecycle jobs always run). */
export const HEAVY_KINDS: ReadonlySet<TJobKind> = new Set(["build", "boot"]);

/** What one node is busy with and how much more it takes, as the dispatcher sees it. */
export type TNodeSlots = {
  nodeId: string;
  /** Builds leased or running on it. */
  builds: number;
  /** Builds and boots leased or running on it. */
  heavy: number;
  /** Build and boot jobs it runs at once (its hello's `jobSlots`); Infinity when it did not say. */
  slots: number;
  /** Fraction of its scarcest resource not promised to instances (0..1); higher is emptier. */
  headroom: number;
};

/** Whether `node` can take one more heavy job (a build when `build`), under `maxBuilds` builds. */
export function hasRoom(node: TNodeSlots, opts: { build: boolean; maxBuilds: number }): boolean {
  return node.heavy < node.slots && (!opts.build || node.builds < opts.maxBuilds);
}

/**
 * The node a build goes to: among nodes with room, the one with the fewest builds, then the fewest
 * heavy jobs, then the most free capacity; `random` breaks remaining ties so equal nodes share work.
 */
export function pickBuildNode(
  nodes: readonly TNodeSlots[],
  opts: { maxBuilds: number; random?: () => number },
): TNodeSlots | undefined {
  const random = opts.random ?? Math.random;
  const open = nodes.filter((n) => hasRoom(n, { build: true, maxBuilds: opts.maxBuilds }));
  const keyed = open.map((n) => ({ n, tie: random() }));
  keyed.sort(
    (a, b) =>
      a.n.builds - b.n.builds || a.n.heavy - b.n.heavy || b.n.headroom - a.n.headroom || a.tie - b.tie,
  );
  return keyed[0]?.n;
}

/** One owner's place in the queue: what it has running, its oldest queued job and its queue. */
export type TOwnerQueue<TJob> = TOwnerTurn & {
  /** Its queued jobs, oldest first (as many as may be dispatched this round). */
  jobs: readonly TJob[];
};

/** What decides an owner's turn. */
export type TOwnerTurn = {
  owner: string | null;
  /** Its jobs leased or running now (they count as served). */
  active: number;
  /** When this console last gave it a slot (ms; 0 = never): the least recently served goes first. */
  lastServed: number;
  /** When its oldest queued job was queued. */
  oldest: Date;
};

/** Whether owner `a` goes before owner `b` among owners served equally often. */
function before(a: Omit<TOwnerTurn, "owner" | "active">, b: Omit<TOwnerTurn, "owner" | "active">): boolean {
  return (
    a.lastServed < b.lastServed || (a.lastServed === b.lastServed && a.oldest.getTime() < b.oldest.getTime())
  );
}

/**
 * Fair order of the queue across owners: owners take turns, the one served least so far (jobs
 * running plus jobs picked this round) first, then the one this console served longest ago, then
 * the longest-waiting. One owner's hundred builds therefore do not hold back another owner's one:
 * it goes at the next free slot, and the hundred share what is left.
 */
export function fairOrder<TJob>(owners: readonly TOwnerQueue<TJob>[], limit: number): TJob[] {
  const state = owners.map((o) => ({ o, served: o.active, lastServed: o.lastServed, next: 0 }));
  const out: TJob[] = [];
  let tick = Math.max(0, ...owners.map((o) => o.lastServed));
  while (out.length < limit) {
    let best: (typeof state)[number] | undefined;
    for (const s of state) {
      if (s.next >= s.o.jobs.length) continue;
      if (
        !best ||
        s.served < best.served ||
        (s.served === best.served &&
          before(
            { lastServed: s.lastServed, oldest: s.o.oldest },
            { lastServed: best.lastServed, oldest: best.o.oldest },
          ))
      )
        best = s;
    }
    if (!best) break;
    const job = best.o.jobs[best.next];
    if (job === undefined) break;
    out.push(job);
    best.next++;
    best.served++;
    best.lastServed = ++tick;
  }
  return out;
}

/** Owners in the order `fairOrder` serves their first job (the dispatcher reads only the first few). */
export function ownerTurns<T extends Omit<TOwnerTurn, "owner">>(owners: readonly T[]): T[] {
  return [...owners].sort((a, b) => a.active - b.active || (before(a, b) ? -1 : before(b, a) ? 1 : 0));
}

/**
 * About how many jobs of other owners are served before an owner's `index`-th queued job (0 = its
 * oldest), in the fair order: every owner gets as many turns as this job waits for, fewer if it
 * has fewer queued; owners that go first within a turn (`fairOrder`) get one more.
 */
export function jobsAhead(opts: {
  owner: Omit<TOwnerTurn, "owner">;
  index: number;
  others: ReadonlyArray<Omit<TOwnerTurn, "owner"> & { queued: number }>;
}): number {
  const turn = opts.owner.active + opts.index;
  let ahead = opts.index;
  for (const o of opts.others) {
    const first = before(o, opts.owner) ? 1 : 0;
    ahead += Math.max(0, Math.min(o.queued, turn - o.active + first));
  }
  return ahead;
}
