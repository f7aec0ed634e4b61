import { z } from "zod";
import { ZMetrics } from "@/lib/protocol";
import { createTRPCRouter, protectedProcedure, publicProcedure } from "@/server/api/trpc";
import type { TNodeRow } from "@/server/db/repositories/nodes-repository";
import { AppError } from "@/server/errors";
import type { ControlPlane } from "@/server/gateway/control-plane";
import { controlPlaneOf } from "./control-plane-context";

const ZResources = z.object({ vcpu: z.number(), memoryMb: z.number(), diskGb: z.number() });

const ZNodeDto = z.object({
  nodeId: z.string(),
  operator: z.string(),
  region: z.string(),
  accel: z.string(),
  capacity: ZResources,
  /** Resources promised to instances placed on the node. */
  allocated: ZResources,
  /** online / offline as judged by heartbeats; `connected` says whether a socket is open now. */
  status: z.string(),
  statusReason: z.string().nullable(),
  connected: z.boolean(),
  healthy: z.boolean(),
  formnetIp: z.string().nullable(),
  agentVersion: z.string(),
  protocolVersion: z.number(),
  lastHeartbeatAt: z.date().nullable(),
  metrics: ZMetrics.nullable(),
  instances: z.number(),
  createdAt: z.date(),
});

/**
 * What anyone may see of a node, signed in or not: capacity, usage, health, region and liveness.
 * No operator address, formnet address, agent version or status text, and instance COUNTS only
 * (never ids, owners or builds).
 */
export const ZPublicNodeDto = ZNodeDto.pick({
  nodeId: true,
  region: true,
  accel: true,
  capacity: true,
  allocated: true,
  status: true,
  connected: true,
  healthy: true,
  lastHeartbeatAt: true,
  metrics: true,
  instances: true,
  createdAt: true,
}).strict();
export type TPublicNodeDto = z.infer<typeof ZPublicNodeDto>;

async function toDtos(cp: ControlPlane, rows: TNodeRow[]) {
  const usage = await cp.repos.instances.usageByNode();
  const counts = new Map<string, number>();
  for (const i of await cp.repos.instances.list({})) counts.set(i.nodeId, (counts.get(i.nodeId) ?? 0) + 1);
  return rows.map((n): z.infer<typeof ZNodeDto> => {
    const metrics = n.lastMetrics ? ZMetrics.safeParse(JSON.parse(n.lastMetrics)) : null;
    return {
      nodeId: n.id,
      operator: n.operator,
      region: n.region,
      accel: n.accel,
      capacity: { vcpu: n.vcpu, memoryMb: n.memoryMb, diskGb: n.diskGb },
      allocated: usage.get(n.id) ?? { vcpu: 0, memoryMb: 0, diskGb: 0 },
      status: n.status,
      statusReason: n.statusReason,
      connected: n.consoleId !== null,
      healthy: cp.nodes.isHealthy(n),
      formnetIp: n.formnetIp,
      agentVersion: n.agentVersion,
      protocolVersion: n.protocolVersion,
      lastHeartbeatAt: n.lastHeartbeatAt,
      metrics: metrics?.success ? metrics.data : null,
      instances: counts.get(n.id) ?? 0,
      createdAt: n.createdAt,
    };
  });
}

/** Nodes of the network: capacity, allocation, health, heartbeats and metrics history. */
export const nodesRouter = createTRPCRouter({
  list: protectedProcedure
    .input(z.object({ operator: z.string().optional() }).default({}))
    .output(z.array(ZNodeDto))
    .query(async ({ ctx, input }) => {
      const cp = controlPlaneOf(ctx);
      return toDtos(
        cp,
        await cp.repos.nodes.list(input.operator ? { operator: input.operator.toLowerCase() } : {}),
      );
    }),

  /** The public view of every node (the signed-out nodes page). */
  publicList: publicProcedure.output(z.array(ZPublicNodeDto)).query(async ({ ctx }) => {
    const cp = controlPlaneOf(ctx);
    const dtos = await toDtos(cp, await cp.repos.nodes.list({}));
    // Copy field by field so a field added to ZNodeDto never leaks here by accident.
    return dtos.map(
      (d): TPublicNodeDto => ({
        nodeId: d.nodeId,
        region: d.region,
        accel: d.accel,
        capacity: d.capacity,
        allocated: d.allocated,
        status: d.status,
        connected: d.connected,
        healthy: d.healthy,
        lastHeartbeatAt: d.lastHeartbeatAt,
        metrics: d.metrics,
        instances: d.instances,
        createdAt: d.createdAt,
      }),
    );
  }),

  get: protectedProcedure
    .input(
      z.object({
        nodeId: z.string().min(1).max(64),
        sinceMinutes: z
          .number()
          .int()
          .min(1)
          .max(24 * 60)
          .default(60),
      }),
    )
    .output(ZNodeDto.extend({ history: z.array(ZMetrics.extend({ at: z.date() })) }))
    .query(async ({ ctx, input }) => {
      const cp = controlPlaneOf(ctx);
      const row = await cp.repos.nodes.find(input.nodeId);
      if (!row) throw new AppError("NOT_FOUND", `No node ${input.nodeId}`);
      const [dto] = await toDtos(cp, [row]);
      if (!dto) throw new AppError("INTERNAL", "node DTO missing");
      const history = await cp.repos.nodes.metricsHistory({
        nodeId: row.id,
        since: new Date(Date.now() - input.sinceMinutes * 60_000),
        limit: 5000,
      });
      return {
        ...dto,
        history: history.map(({ at, cpuPct, memUsedMb, diskUsedGb, netRx, netTx }) => ({
          at,
          cpuPct,
          memUsedMb,
          diskUsedGb,
          netRx,
          netTx,
        })),
      };
    }),
});
