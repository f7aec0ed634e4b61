import type { TMetrics } from "@/lib/protocol";
import type { TDatabase } from "@/server/db/client";

/**
 * The database reads and writes of the state-store wiring (server/statestore: publisher and
 * mirror). Mirrored fields only ever move forward: a heartbeat older than the one the database
 * holds changes nothing.
 */
export function createStateStoreRepository(db: TDatabase) {
  return {
    /** Every node row: the publisher writes ownership of each to the store. */
    nodes() {
      return db.node.findMany({ select: { id: true, operator: true }, orderBy: { createdAt: "asc" } });
    },

    /** Every instance, deleted ones included (their `desired` goes to the store too). */
    instances() {
      return db.instance.findMany({ orderBy: { createdAt: "asc" } });
    },

    formnetAddresses() {
      return db.formnetAddress.findMany({ orderBy: { createdAt: "asc" } });
    },

    nodesOf(operator: string) {
      return db.node.findMany({ where: { operator } });
    },

    /** Moves `lastHeartbeatAt` of the operator's nodes forward to `at` (never back; status untouched). */
    async heartbeatSeen(opts: { operator: string; at: Date }): Promise<number> {
      const r = await db.node.updateMany({
        where: {
          operator: opts.operator,
          OR: [{ lastHeartbeatAt: null }, { lastHeartbeatAt: { lt: opts.at } }],
        },
        data: { lastHeartbeatAt: opts.at },
      });
      return r.count;
    },

    /** Latest metrics of the operator's nodes plus one history row each. */
    async metricsSeen(opts: { operator: string; metrics: TMetrics; at: Date }): Promise<void> {
      const nodes = await db.node.findMany({ where: { operator: opts.operator }, select: { id: true } });
      for (const n of nodes) {
        await db.node.update({ where: { id: n.id }, data: { lastMetrics: JSON.stringify(opts.metrics) } });
        await db.nodeMetric.create({ data: { nodeId: n.id, at: opts.at, ...opts.metrics } });
      }
    },

    instance(id: string) {
      return db.instance.findUnique({ where: { id } });
    },

    node(id: string) {
      return db.node.findUnique({ where: { id } });
    },
  };
}

export type TStateStoreRepository = ReturnType<typeof createStateStoreRepository>;
