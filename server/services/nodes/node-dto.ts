import { z } from "zod";
import { ZMetrics } from "@/lib/protocol";
import { ZNodeStatus } from "@/lib/status";
import type { TNodeRow } from "@/server/db/repositories/nodes-repository";
import { parseLastMetrics, ZMetricsSample } from "@/server/services/metrics/metrics-dto";
import { NO_RESOURCES, type TResources, ZResources } from "@/server/services/scheduler/resources";

export const ZNodeDto = z.object({
  nodeId: z.string(),
  operator: z.string(),
  region: z.string(),
  accel: z.string(),
  capacity: ZResources,
  /** Resources promised to instances placed on the node. */
  allocated: ZResources,
  /** online / offline as judged by heartbeats; `connected` says whether a socket is open now. */
  status: ZNodeStatus,
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
export type TNodeDto = z.infer<typeof ZNodeDto>;

/** One node with its metrics history (`nodes.get`). */
export const ZNodeDetailDto = ZNodeDto.extend({ history: z.array(ZMetricsSample) });
export type TNodeDetailDto = z.infer<typeof ZNodeDetailDto>;

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

export function toNodeDto(
  n: TNodeRow,
  opts: { allocated: TResources | undefined; instances: number; healthy: boolean },
): TNodeDto {
  return {
    nodeId: n.id,
    operator: n.operator,
    region: n.region,
    accel: n.accel,
    capacity: { vcpu: n.vcpu, memoryMb: n.memoryMb, diskGb: n.diskGb },
    allocated: opts.allocated ?? NO_RESOURCES,
    status: n.status,
    statusReason: n.statusReason,
    connected: n.consoleId !== null,
    healthy: opts.healthy,
    formnetIp: n.formnetIp,
    agentVersion: n.agentVersion,
    protocolVersion: n.protocolVersion,
    lastHeartbeatAt: n.lastHeartbeatAt,
    metrics: parseLastMetrics(n.lastMetrics),
    instances: opts.instances,
    createdAt: n.createdAt,
  };
}

/** The public view, copied field by field so a field added to the node DTO never leaks here. */
export function toPublicNodeDto(d: TNodeDto): TPublicNodeDto {
  return {
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
  };
}
