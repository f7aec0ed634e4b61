import type { TMetrics } from "@/lib/protocol";
import { type TNodeStatus, ZNodeStatus } from "@/lib/status";
import type { Node, TDatabase } from "@/server/db/client";

/** A node as stored, its status parsed. */
export type TNodeRow = Omit<Node, "status"> & { status: TNodeStatus };

function toRow(row: Node): TNodeRow {
  return { ...row, status: ZNodeStatus.parse(row.status) };
}
const toRowOrNull = (row: Node | null): TNodeRow | null => (row ? toRow(row) : null);

export type THelloNode = {
  id: string;
  operator: string;
  region: string;
  accel: string;
  vcpu: number;
  memoryMb: number;
  diskGb: number;
  wgPublicKey: string;
  listenPort: number;
  endpoints: string[];
  agentVersion: string;
  protocolVersion: number;
  jobSlots: number | null;
  consoleId: string;
  agentTokenHash: string;
  formnetIp: string;
};

/** Node registry and heartbeat history. */
export function createNodesRepository(db: TDatabase) {
  return {
    async find(id: string): Promise<TNodeRow | null> {
      return toRowOrNull(await db.node.findUnique({ where: { id } }));
    },

    async findByKey(wgPublicKey: string): Promise<TNodeRow | null> {
      return toRowOrNull(await db.node.findUnique({ where: { wgPublicKey } }));
    },

    /** Creates or refreshes the node on a successful hello and marks it online on `consoleId`. */
    async upsertOnHello(n: THelloNode, now: Date): Promise<TNodeRow> {
      const data = {
        operator: n.operator,
        region: n.region,
        accel: n.accel,
        vcpu: n.vcpu,
        memoryMb: n.memoryMb,
        diskGb: n.diskGb,
        wgPublicKey: n.wgPublicKey,
        listenPort: n.listenPort,
        endpoints: JSON.stringify(n.endpoints),
        agentVersion: n.agentVersion,
        protocolVersion: n.protocolVersion,
        jobSlots: n.jobSlots,
        consoleId: n.consoleId,
        agentTokenHash: n.agentTokenHash,
        formnetIp: n.formnetIp,
        connectedAt: now,
        lastHeartbeatAt: now,
        status: "online",
        statusReason: null,
      };
      return toRow(
        await db.node.upsert({ where: { id: n.id }, create: { id: n.id, ...data }, update: data }),
      );
    },

    /** The connected node holding this blob-endpoint token, if any. */
    async findByToken(agentTokenHash: string): Promise<TNodeRow | null> {
      return toRowOrNull(await db.node.findFirst({ where: { agentTokenHash, consoleId: { not: null } } }));
    },

    /** Clears the socket owner, unless another console took the node over meanwhile. */
    async disconnected(opts: { id: string; consoleId: string }): Promise<void> {
      await db.node.updateMany({
        where: { id: opts.id, consoleId: opts.consoleId },
        data: { consoleId: null },
      });
    },

    async heartbeat(opts: { id: string; seq: number; metrics: TMetrics; at: Date }): Promise<void> {
      await db.node.update({
        where: { id: opts.id },
        data: {
          lastHeartbeatAt: opts.at,
          lastSeq: opts.seq,
          lastMetrics: JSON.stringify(opts.metrics),
          status: "online",
          statusReason: null,
        },
      });
    },

    /** Liveness for a batch of nodes (heartbeats are buffered and flushed together). */
    async touchMany(opts: { ids: string[]; at: Date }): Promise<void> {
      for (let i = 0; i < opts.ids.length; i += 500) {
        await db.node.updateMany({
          where: { id: { in: opts.ids.slice(i, i + 500) } },
          data: { lastHeartbeatAt: opts.at, status: "online", statusReason: null },
        });
      }
    },

    /** Metrics samples of many nodes: history rows plus each node's latest sample. */
    async addSamples(opts: { samples: { nodeId: string; metrics: TMetrics }[]; at: Date }): Promise<void> {
      await db.nodeMetric.createMany({
        data: opts.samples.map((s) => ({ nodeId: s.nodeId, at: opts.at, ...s.metrics })),
      });
      // One `UPDATE … CASE` per 200 nodes instead of one statement per node: at thousands of
      // agents the per-node updates held the database for seconds and delayed job offers.
      for (let i = 0; i < opts.samples.length; i += 200) {
        const chunk = opts.samples.slice(i, i + 200);
        const parts = ['UPDATE "Node" SET "lastMetrics" = CASE "id" WHEN '];
        const values: string[] = [];
        chunk.forEach((s, k) => {
          values.push(s.nodeId, JSON.stringify(s.metrics));
          parts.push(" THEN ", k === chunk.length - 1 ? ' END WHERE "id" IN (' : " WHEN ");
        });
        chunk.forEach((s, k) => {
          values.push(s.nodeId);
          parts.push(k === chunk.length - 1 ? ")" : ", ");
        });
        // Tagged-template form (placeholders per provider: `?` on SQLite, `$n` on PostgreSQL).
        await db.$executeRaw(Object.assign([...parts], { raw: [...parts] }), ...values);
      }
    },

    async addMetric(opts: { nodeId: string; metrics: TMetrics; at: Date }): Promise<void> {
      await db.nodeMetric.create({ data: { nodeId: opts.nodeId, at: opts.at, ...opts.metrics } });
    },

    /** Online nodes whose last heartbeat is older than `before`. */
    async staleOnline(before: Date): Promise<TNodeRow[]> {
      return (await db.node.findMany({ where: { status: "online", lastHeartbeatAt: { lt: before } } })).map(
        toRow,
      );
    },

    /** online → offline, conditional on the heartbeat still being stale (a fresh one wins). */
    async markOffline(opts: { id: string; staleBefore: Date; reason: string }): Promise<boolean> {
      const r = await db.node.updateMany({
        where: { id: opts.id, status: "online", lastHeartbeatAt: { lt: opts.staleBefore } },
        data: { status: "offline", statusReason: opts.reason },
      });
      return r.count === 1;
    },

    async list(opts: { operator?: string } = {}): Promise<TNodeRow[]> {
      const rows = await db.node.findMany({
        where: opts.operator ? { operator: opts.operator } : {},
        orderBy: { createdAt: "asc" },
      });
      return rows.map(toRow);
    },

    async listOnline(): Promise<TNodeRow[]> {
      return (await db.node.findMany({ where: { status: "online" } })).map(toRow);
    },

    metricsHistory(opts: { nodeId: string; since: Date; limit: number }) {
      return db.nodeMetric.findMany({
        where: { nodeId: opts.nodeId, at: { gte: opts.since } },
        orderBy: { at: "asc" },
        take: opts.limit,
      });
    },

    async pruneMetrics(before: Date): Promise<number> {
      const a = await db.nodeMetric.deleteMany({ where: { at: { lt: before } } });
      const b = await db.instanceMetric.deleteMany({ where: { at: { lt: before } } });
      return a.count + b.count;
    },
  };
}

export type TNodesRepository = ReturnType<typeof createNodesRepository>;
