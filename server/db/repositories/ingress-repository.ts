import { type THealthState, ZHealthState } from "@/lib/status";
import type { InstanceHealth, TDatabase } from "@/server/db/client";

/** A replica the edge may route to: running, wanted running, with a formnet address. */
export type TLiveReplicaRow = {
  id: string;
  deploymentId: string;
  buildId: string;
  nodeId: string;
  formnetIp: string | null;
};

export type TRouteDeploymentRow = {
  id: string;
  owner: string;
  name: string;
  buildId: string;
  replicas: number;
};

export type TInstanceHealthRow = Omit<InstanceHealth, "state"> & { state: THealthState };

export type TInstanceHealthWrite = Omit<TInstanceHealthRow, "updatedAt">;

/** What the ingress reads and writes: routes (deployments, live replicas, builds) and replica health. */
export function createIngressRepository(db: TDatabase) {
  return {
    /** Every deployment (the edge answers for all of them, saying why one has no replica). */
    deployments(): Promise<TRouteDeploymentRow[]> {
      return db.deployment.findMany({
        select: { id: true, owner: true, name: true, buildId: true, replicas: true },
      });
    },

    liveReplicas(): Promise<TLiveReplicaRow[]> {
      return db.instance.findMany({
        where: { status: "running", desired: "running", formnetIp: { not: null } },
        select: { id: true, deploymentId: true, buildId: true, nodeId: true, formnetIp: true },
        orderBy: { createdAt: "asc" },
      });
    },

    /** Stored canonical Formfiles (JSON text) of builds; builds are immutable, callers cache them. */
    formfiles(buildIds: readonly string[]): Promise<{ id: string; owner: string; formfile: string }[]> {
      if (buildIds.length === 0) return Promise.resolve([]);
      return db.build.findMany({
        where: { id: { in: [...buildIds] } },
        select: { id: true, owner: true, formfile: true },
      });
    },

    async writeHealth(rows: readonly TInstanceHealthWrite[]): Promise<void> {
      for (const row of rows) {
        const { instanceId, ...data } = row;
        await db.instanceHealth.upsert({ where: { instanceId }, create: row, update: data });
      }
    },

    async healthOf(instanceIds: readonly string[]): Promise<TInstanceHealthRow[]> {
      if (instanceIds.length === 0) return [];
      const rows = await db.instanceHealth.findMany({ where: { instanceId: { in: [...instanceIds] } } });
      // Parsed at the boundary: an unknown state is an error, never shown as something else.
      return rows.map((r) => ({ ...r, state: ZHealthState.parse(r.state) }));
    },

    /** Forgets the health of replicas that are gone (deleted, or no longer in the database). */
    async pruneHealth(): Promise<number> {
      const rows = await db.instanceHealth.findMany({ select: { instanceId: true } });
      const ids = rows.map((r) => r.instanceId);
      const alive = await db.instance.findMany({
        where: { id: { in: ids }, status: { not: "deleted" } },
        select: { id: true },
      });
      const keep = new Set(alive.map((a) => a.id));
      const gone = ids.filter((id) => !keep.has(id));
      if (gone.length === 0) return 0;
      const r = await db.instanceHealth.deleteMany({ where: { instanceId: { in: gone } } });
      return r.count;
    },
  };
}

export type TIngressRepository = ReturnType<typeof createIngressRepository>;
