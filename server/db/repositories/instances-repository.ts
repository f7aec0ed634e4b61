import type { TMetrics } from "@/lib/protocol";
import type { TDatabase } from "@/server/db/client";

export type TInstanceRow = {
  id: string;
  deploymentId: string;
  buildId: string;
  owner: string;
  nodeId: string;
  status: string;
  desired: string;
  reason: string | null;
  /** Why the replica is on its node when it replaced another (shown with get-ip and on the page). */
  placement: string | null;
  formnetIp: string | null;
  imageDigest: string;
  vcpu: number;
  memoryMb: number;
  diskGb: number;
  lastMetrics: string | null;
  createdAt: Date;
  updatedAt: Date;
};

export type TNewInstance = Omit<
  TInstanceRow,
  "createdAt" | "updatedAt" | "lastMetrics" | "reason" | "placement"
> & {
  placement?: string | null;
};

/** VM instances (replicas). */
export function createInstancesRepository(db: TDatabase) {
  return {
    find(id: string): Promise<TInstanceRow | null> {
      return db.instance.findUnique({ where: { id } });
    },

    create(i: TNewInstance): Promise<TInstanceRow> {
      return db.instance.create({ data: i });
    },

    update(
      id: string,
      data: Partial<Pick<TInstanceRow, "status" | "desired" | "reason" | "formnetIp">>,
    ): Promise<TInstanceRow> {
      return db.instance.update({ where: { id }, data });
    },

    /** Updates the status only if the instance lives on `nodeId` (agents report on their own VMs). */
    async reportStatus(opts: {
      id: string;
      nodeId: string;
      status: string;
      reason?: string | null;
      formnetIp?: string;
    }): Promise<boolean> {
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

    /** Replicas still pending or booting that were placed before `before`. */
    bootingSince(before: Date): Promise<TInstanceRow[]> {
      return db.instance.findMany({
        where: { status: { in: ["pending", "booting"] }, desired: "running", createdAt: { lt: before } },
      });
    },

    byDeployment(deploymentId: string): Promise<TInstanceRow[]> {
      return db.instance.findMany({ where: { deploymentId }, orderBy: { createdAt: "asc" } });
    },

    byNode(nodeId: string): Promise<TInstanceRow[]> {
      return db.instance.findMany({ where: { nodeId, status: { not: "deleted" } } });
    },

    byBuild(buildId: string): Promise<TInstanceRow[]> {
      return db.instance.findMany({ where: { buildId }, orderBy: { createdAt: "asc" } });
    },

    /** Where every live instance is reachable: its node and formnet address (console peer routes). */
    placements(): Promise<{ nodeId: string; formnetIp: string | null }[]> {
      return db.instance.findMany({
        where: { status: { not: "deleted" }, desired: { not: "deleted" }, formnetIp: { not: null } },
        select: { nodeId: true, formnetIp: true },
      });
    },

    list(opts: { owner?: string }): Promise<TInstanceRow[]> {
      return db.instance.findMany({
        where: { ...(opts.owner ? { owner: opts.owner } : {}), status: { not: "deleted" } },
        orderBy: { createdAt: "asc" },
      });
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
