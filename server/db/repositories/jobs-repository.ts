import { type TJobKind, ZJobKind } from "@/lib/protocol";
import { type TJobState, ZJobState } from "@/lib/status";
import type { Job, TDatabase } from "@/server/db/client";

/** A job as stored, its kind and state parsed. */
export type TJobRow = Omit<Job, "kind" | "state"> & { kind: TJobKind; state: TJobState };

function toRow(row: Job): TJobRow {
  return { ...row, kind: ZJobKind.parse(row.kind), state: ZJobState.parse(row.state) };
}
const toRows = (rows: Job[]): TJobRow[] => rows.map(toRow);

export type TNewJob = {
  id: string;
  kind: TJobKind;
  payload: string;
  nodeId: string | null;
  idempotencyKey: string;
  /** The account the job works for (the scheduler serves owners in turn). */
  owner?: string | null;
  buildId?: string | null;
  instanceId?: string | null;
  maxAttempts?: number;
  /** Insert already leased (to `nodeId`, whose socket this console holds): saves the lease update. */
  leaseUntil?: Date;
};

/** Job queue persistence. State changes are conditional updates, so two consoles cannot both win. */
export function createJobsRepository(db: TDatabase) {
  return {
    /** Inserts the job unless one with the same idempotency key exists; returns the stored row. */
    async enqueue(job: TNewJob): Promise<{ job: TJobRow; created: boolean }> {
      // Insert first and look up only on conflict: the common case costs one statement.
      const leased = job.leaseUntil !== undefined && job.nodeId !== null;
      try {
        const created = await db.job.create({
          data: {
            id: job.id,
            kind: job.kind,
            payload: job.payload,
            state: leased ? "leased" : "queued",
            ...(leased ? { leaseExpiresAt: job.leaseUntil, attempts: 1 } : {}),
            targeted: job.nodeId !== null,
            nodeId: job.nodeId,
            idempotencyKey: job.idempotencyKey,
            owner: job.owner ?? null,
            buildId: job.buildId ?? null,
            instanceId: job.instanceId ?? null,
            maxAttempts: job.maxAttempts ?? 5,
          },
        });
        return { job: toRow(created), created: true };
      } catch (error) {
        const raced = await db.job.findUnique({ where: { idempotencyKey: job.idempotencyKey } });
        if (raced) return { job: toRow(raced), created: false };
        throw error;
      }
    },

    /** Finished jobs (done, failed, cancelled) that ended before `before`: history past retention. */
    async pruneFinished(before: Date): Promise<number> {
      const r = await db.job.deleteMany({
        where: { state: { in: ["done", "failed", "cancelled"] }, finishedAt: { lt: before } },
      });
      return r.count;
    },

    async find(id: string): Promise<TJobRow | null> {
      const row = await db.job.findUnique({ where: { id } });
      return row ? toRow(row) : null;
    },

    async findMany(ids: readonly string[]): Promise<TJobRow[]> {
      if (ids.length === 0) return [];
      return toRows(await db.job.findMany({ where: { id: { in: [...new Set(ids)] } } }));
    },

    /** Queued jobs targeted at one of `nodeIds`, oldest first. */
    async queuedTargeted(nodeIds: string[], limit: number): Promise<TJobRow[]> {
      return toRows(
        await db.job.findMany({
          where: { state: "queued", targeted: true, nodeId: { in: nodeIds } },
          orderBy: { createdAt: "asc" },
          take: limit,
        }),
      );
    },

    /** Queued targeted jobs of any node, oldest first. */
    async queuedTargetedAll(limit: number): Promise<TJobRow[]> {
      return toRows(
        await db.job.findMany({
          where: { state: "queued", targeted: true },
          orderBy: { createdAt: "asc" },
          take: limit,
        }),
      );
    },

    /** Active (leased or running) jobs per node and kind: what each node is busy with. */
    async activeByNodeAndKind(
      nodeIds?: readonly string[],
    ): Promise<{ nodeId: string; kind: TJobKind; count: number }[]> {
      const rows = await db.job.groupBy({
        by: ["nodeId", "kind"],
        where: {
          state: { in: ["leased", "running"] },
          ...(nodeIds === undefined ? { nodeId: { not: null } } : { nodeId: { in: [...nodeIds] } }),
        },
        _count: { _all: true },
      });
      return rows.flatMap((r) =>
        r.nodeId === null ? [] : [{ nodeId: r.nodeId, kind: ZJobKind.parse(r.kind), count: r._count._all }],
      );
    },

    /** Owners with queued untargeted jobs: how many each has queued and since when. */
    async queuedOwners(): Promise<{ owner: string | null; queued: number; oldest: Date }[]> {
      const rows = await db.job.groupBy({
        by: ["owner"],
        where: { state: "queued", targeted: false },
        _count: { _all: true },
        _min: { createdAt: true },
      });
      return rows.map((r) => ({
        owner: r.owner,
        queued: r._count._all,
        oldest: r._min.createdAt ?? new Date(0),
      }));
    },

    /** Untargeted jobs each owner has leased or running now. */
    async activeOwners(): Promise<Map<string | null, number>> {
      const rows = await db.job.groupBy({
        by: ["owner"],
        where: { state: { in: ["leased", "running"] }, targeted: false },
        _count: { _all: true },
      });
      return new Map(rows.map((r) => [r.owner, r._count._all]));
    },

    /** One owner's oldest queued untargeted jobs. */
    async queuedUntargetedOf(owner: string | null, limit: number): Promise<TJobRow[]> {
      return toRows(
        await db.job.findMany({
          where: { state: "queued", targeted: false, owner },
          orderBy: { createdAt: "asc" },
          take: limit,
        }),
      );
    },

    /** How many of the owner's untargeted jobs were queued before `before` and still wait. */
    countQueuedBefore(opts: { owner: string | null; before: Date }): Promise<number> {
      return db.job.count({
        where: { state: "queued", targeted: false, owner: opts.owner, createdAt: { lt: opts.before } },
      });
    },

    /** Open jobs of several instances at once (listings explain why replicas wait). */
    async openForInstances(instanceIds: readonly string[]): Promise<TJobRow[]> {
      if (instanceIds.length === 0) return [];
      return toRows(
        await db.job.findMany({
          where: { instanceId: { in: [...instanceIds] }, state: { in: ["queued", "leased", "running"] } },
        }),
      );
    },

    /** queued → leased on `nodeId`; false when someone else got it first. */
    async lease(opts: { id: string; nodeId: string; until: Date }): Promise<boolean> {
      const r = await db.job.updateMany({
        where: { id: opts.id, state: "queued" },
        data: {
          state: "leased",
          nodeId: opts.nodeId,
          leaseExpiresAt: opts.until,
          attempts: { increment: 1 },
        },
      });
      return r.count === 1;
    },

    /** Extends the lease (and moves leased → running) of a job held by `nodeId`. */
    async touch(opts: { id: string; nodeId: string; until: Date; phase?: string }): Promise<boolean> {
      const r = await db.job.updateMany({
        where: { id: opts.id, nodeId: opts.nodeId, state: { in: ["leased", "running"] } },
        data: {
          state: "running",
          leaseExpiresAt: opts.until,
          ...(opts.phase === undefined ? {} : { phase: opts.phase }),
        },
      });
      return r.count === 1;
    },

    /** Extends leases of many running jobs of one node (heartbeats). */
    async touchMany(opts: { ids: string[]; nodeId: string; until: Date }): Promise<number> {
      if (opts.ids.length === 0) return 0;
      const r = await db.job.updateMany({
        where: { id: { in: opts.ids }, nodeId: opts.nodeId, state: "running" },
        data: { leaseExpiresAt: opts.until },
      });
      return r.count;
    },

    /** Takes back a job the agent says it still runs (after a reconnect), if nobody else holds it. */
    async reclaim(opts: { id: string; nodeId: string; until: Date }): Promise<boolean> {
      const r = await db.job.updateMany({
        where: {
          id: opts.id,
          OR: [{ state: { in: ["leased", "running"] }, nodeId: opts.nodeId }, { state: "queued" }],
        },
        data: { state: "running", nodeId: opts.nodeId, leaseExpiresAt: opts.until },
      });
      return r.count === 1;
    },

    /** Active → final state; only the holder may finish a job, and only once. */
    async finish(opts: {
      id: string;
      nodeId: string | null;
      state: "done" | "failed" | "cancelled";
      result?: string;
      error?: string;
      errorLine?: number;
    }): Promise<boolean> {
      const r = await db.job.updateMany({
        where: {
          id: opts.id,
          // Without a node (console-side cancel or give-up) a queued job may be finished too.
          state: { in: opts.nodeId === null ? ["queued", "leased", "running"] : ["leased", "running"] },
          ...(opts.nodeId === null ? {} : { nodeId: opts.nodeId }),
        },
        data: {
          state: opts.state,
          leaseExpiresAt: null,
          finishedAt: new Date(),
          result: opts.result ?? null,
          error: opts.error ?? null,
          errorLine: opts.errorLine ?? null,
        },
      });
      return r.count === 1;
    },

    /** Puts an active job back in the queue (untargeted jobs forget their node). */
    async requeue(opts: { id: string; nodeId: string | null; refundAttempt?: boolean }): Promise<boolean> {
      const job = await db.job.findUnique({ where: { id: opts.id } });
      if (!job) return false;
      const r = await db.job.updateMany({
        where: {
          id: opts.id,
          state: { in: ["leased", "running"] },
          ...(opts.nodeId === null ? {} : { nodeId: opts.nodeId }),
        },
        data: {
          state: "queued",
          leaseExpiresAt: null,
          ...(job.targeted ? {} : { nodeId: null }),
          // A node that declined never tried the job: its lease does not count as an attempt.
          ...(opts.refundAttempt && job.attempts > 0 ? { attempts: { decrement: 1 } } : {}),
        },
      });
      return r.count === 1;
    },

    async expiredLeases(now: Date, limit: number): Promise<TJobRow[]> {
      return toRows(
        await db.job.findMany({
          where: { state: { in: ["leased", "running"] }, leaseExpiresAt: { lt: now } },
          take: limit,
        }),
      );
    },

    /** Jobs leased to `nodeId`, acknowledged or not. */
    async activeOn(nodeId: string): Promise<TJobRow[]> {
      return toRows(await db.job.findMany({ where: { state: { in: ["leased", "running"] }, nodeId } }));
    },

    async leasedUnackedOn(nodeId: string): Promise<TJobRow[]> {
      return toRows(await db.job.findMany({ where: { state: "leased", nodeId } }));
    },

    async openForInstance(instanceId: string): Promise<TJobRow[]> {
      return toRows(
        await db.job.findMany({ where: { instanceId, state: { in: ["queued", "leased", "running"] } } }),
      );
    },

    /** The newest job of `kind` for the instance, in any state (finished ones until pruned). */
    async latestForInstance(instanceId: string, kind: TJobKind): Promise<TJobRow | null> {
      const row = await db.job.findFirst({ where: { instanceId, kind }, orderBy: { createdAt: "desc" } });
      return row ? toRow(row) : null;
    },

    async openForBuild(buildId: string): Promise<TJobRow[]> {
      return toRows(
        await db.job.findMany({ where: { buildId, state: { in: ["queued", "leased", "running"] } } }),
      );
    },

    async openTargetedOn(nodeId: string): Promise<TJobRow[]> {
      return toRows(
        await db.job.findMany({
          where: { nodeId, targeted: true, state: { in: ["queued", "leased", "running"] } },
        }),
      );
    },
  };
}

export type TJobsRepository = ReturnType<typeof createJobsRepository>;
