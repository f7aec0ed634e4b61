import type { TMetrics } from "@/lib/protocol";
import { type TDesiredState, type TReplicaStatus, ZDesiredState, ZReplicaStatus } from "@/lib/status";
import type { Instance, TDatabase } from "@/server/db/client";

/** A replica as stored, its status and desired state parsed. */
export type TInstanceRow = Omit<Instance, "status" | "desired"> & {
  status: TReplicaStatus;
  desired: TDesiredState;
};

export type TNewInstance = Omit<
  TInstanceRow,
  "createdAt" | "updatedAt" | "lastMetrics" | "reason" | "placement" | "bootStartedAt"
> & {
  placement?: string | null;
};

function toRow(row: Instance): TInstanceRow {
  return { ...row, status: ZReplicaStatus.parse(row.status), desired: ZDesiredState.parse(row.desired) };
}
const toRowOrNull = (row: Instance | null): TInstanceRow | null => (row ? toRow(row) : null);

/** Statuses of a replica on its way up: the boot deadline applies. */
const BOOTING: readonly string[] = ["pending", "booting"];

/** VM instances (replicas). */
export function createInstancesRepository(db: TDatabase) {
  /**
   * A replica entering pending/booting from another status (a start, a restart after a crash)
   * begins a boot: its deadline counts from now, not from its placement. Runs before the status
   * changes, so it sees the status it leaves.
   */
  async function markBootStart(where: { id: string; nodeId?: string }, status: string | undefined) {
    if (status === undefined || !BOOTING.includes(status)) return;
    await db.instance.updateMany({
      where: { ...where, status: { notIn: [...BOOTING] } },
      data: { bootStartedAt: new Date() },
    });
  }

  return {
    async find(id: string): Promise<TInstanceRow | null> {
      return toRowOrNull(await db.instance.findUnique({ where: { id } }));
    },

    async create(i: TNewInstance): Promise<TInstanceRow> {
      return toRow(await db.instance.create({ data: i }));
    },

    async update(
      id: string,
      data: Partial<Pick<TInstanceRow, "status" | "desired" | "reason" | "formnetIp">>,
    ): Promise<TInstanceRow> {
      await markBootStart({ id }, data.status);
      return toRow(await db.instance.update({ where: { id }, data }));
    },

    /** Updates the status only if the instance lives on `nodeId` (agents report on their own VMs). */
    async reportStatus(opts: {
      id: string;
      nodeId: string;
      status: TReplicaStatus;
      reason?: string | null;
      formnetIp?: string;
    }): Promise<boolean> {
      await markBootStart({ id: opts.id, nodeId: opts.nodeId }, opts.status);
      const r = await db.instance.updateMany({
        where: { id: opts.id, nodeId: opts.nodeId, status: { not: "deleted" } },
        data: {
          status: opts.status,
          ...(opts.reason === undefined ? {} : { reason: opts.reason }),
          ...(opts.formnetIp === undefined ? {} : { formnetIp: opts.formnetIp }),
        },
      });
      return r.count === 1;
    },

    async recordMetrics(opts: { id: string; nodeId: string; metrics: TMetrics; at: Date }): Promise<boolean> {
      const r = await db.instance.updateMany({
        where: { id: opts.id, nodeId: opts.nodeId },
        data: { lastMetrics: JSON.stringify(opts.metrics) },
      });
      if (r.count === 1)
        await db.instanceMetric.create({ data: { instanceId: opts.id, at: opts.at, ...opts.metrics } });
      return r.count === 1;
    },

    /** Replicas still pending or booting whose boot (placement, start, crash restart) began before `before`. */
    async bootingSince(before: Date): Promise<TInstanceRow[]> {
      const rows = await db.instance.findMany({
        where: { status: { in: [...BOOTING] }, desired: "running", bootStartedAt: { lt: before } },
      });
      return rows.map(toRow);
    },

    /** Replicas deleted before `before` (their VMs long gone): history past retention. */
    async pruneDeleted(before: Date): Promise<number> {
      const r = await db.instance.deleteMany({ where: { status: "deleted", updatedAt: { lt: before } } });
      return r.count;
    },

    async byDeployment(deploymentId: string): Promise<TInstanceRow[]> {
      return (await db.instance.findMany({ where: { deploymentId }, orderBy: { createdAt: "asc" } })).map(
        toRow,
      );
    },

    /** The replicas of several deployments in one query (listings), grouped by deployment. */
    async byDeployments(deploymentIds: readonly string[]): Promise<Map<string, TInstanceRow[]>> {
      const out = new Map<string, TInstanceRow[]>(deploymentIds.map((id) => [id, []]));
      if (deploymentIds.length === 0) return out;
      const rows = await db.instance.findMany({
        where: { deploymentId: { in: [...deploymentIds] } },
        orderBy: { createdAt: "asc" },
      });
      for (const row of rows) out.get(row.deploymentId)?.push(toRow(row));
      return out;
    },

    async byNode(nodeId: string): Promise<TInstanceRow[]> {
      return (await db.instance.findMany({ where: { nodeId, status: { not: "deleted" } } })).map(toRow);
    },

    async byBuild(buildId: string): Promise<TInstanceRow[]> {
      return (await db.instance.findMany({ where: { buildId }, orderBy: { createdAt: "asc" } })).map(toRow);
    },

    /** Where every live instance is reachable: its node and formnet address (console peer routes). */
    placements(): Promise<{ nodeId: string; formnetIp: string | null }[]> {
      return db.instance.findMany({
        where: { status: { not: "deleted" }, desired: { not: "deleted" }, formnetIp: { not: null } },
        select: { nodeId: true, formnetIp: true },
      });
    },

    async list(opts: { owner?: string }): Promise<TInstanceRow[]> {
      const rows = await db.instance.findMany({
        where: { ...(opts.owner ? { owner: opts.owner } : {}), status: { not: "deleted" } },
        orderBy: { createdAt: "asc" },
      });
      return rows.map(toRow);
    },

    /** How many live (not deleted) replicas each node holds: one grouped query. */
    async countByNode(): Promise<Map<string, number>> {
      const rows = await db.instance.groupBy({
        by: ["nodeId"],
        where: { status: { not: "deleted" } },
        _count: { _all: true },
      });
      return new Map(rows.map((r) => [r.nodeId, r._count._all]));
    },

    /** Resources promised per node: every instance not deleted counts against its node. */
    async usageByNode(): Promise<Map<string, { vcpu: number; memoryMb: number; diskGb: number }>> {
      const rows = await db.instance.groupBy({
        by: ["nodeId"],
        where: { desired: { not: "deleted" }, status: { notIn: ["deleted", "failed", "lost"] } },
        _sum: { vcpu: true, memoryMb: true, diskGb: true },
      });
      return new Map(
        rows.map((r) => [
          r.nodeId,
          { vcpu: r._sum.vcpu ?? 0, memoryMb: r._sum.memoryMb ?? 0, diskGb: r._sum.diskGb ?? 0 },
        ]),
      );
    },

    metricsHistory(opts: { instanceId: string; since: Date; limit: number }) {
      return db.instanceMetric.findMany({
        where: { instanceId: opts.instanceId, at: { gte: opts.since } },
        orderBy: { at: "asc" },
        take: opts.limit,
      });
    },
  };
}

export type TInstancesRepository = ReturnType<typeof createInstancesRepository>;
