import { z } from "zod";
import { ZMetrics } from "@/lib/protocol";
import type { TDeploymentRow } from "@/server/db/repositories/deployments-repository";
import type { TInstanceRow } from "@/server/db/repositories/instances-repository";

export const ZInstanceDto = z.object({
  instanceId: z.string(),
  deploymentId: z.string(),
  buildId: z.string(),
  owner: z.string(),
  nodeId: z.string(),
  status: z.string(),
  desired: z.string(),
  reason: z.string().nullable(),
  /** Why the replica is on its node when it replaced another one (e.g. its node went offline). */
  placement: z.string().nullable(),
  formnetIp: z.string().nullable(),
  imageDigest: z.string(),
  resources: z.object({ vcpu: z.number(), memoryMb: z.number(), diskGb: z.number() }),
  metrics: ZMetrics.nullable(),
  createdAt: z.date(),
  updatedAt: z.date(),
});
export type TInstanceDto = z.infer<typeof ZInstanceDto>;

export const ZDeploymentDto = z.object({
  deploymentId: z.string(),
  owner: z.string(),
  name: z.string(),
  buildId: z.string(),
  replicas: z.number(),
  notice: z.string().nullable(),
  createdAt: z.date(),
  updatedAt: z.date(),
});
export type TDeploymentDto = z.infer<typeof ZDeploymentDto>;

/** What `instances.deleteDeployment` answers. */
export const ZDeleteDeploymentResult = z.object({
  deploymentId: z.string(),
  name: z.string(),
  /** Replicas whose VMs are being deleted. */
  deletedInstances: z.array(z.string()),
});
export type TDeleteDeploymentResult = z.infer<typeof ZDeleteDeploymentResult>;

export function toInstanceDto(row: TInstanceRow): TInstanceDto {
  const metrics = row.lastMetrics ? ZMetrics.safeParse(JSON.parse(row.lastMetrics)) : null;
  return {
    instanceId: row.id,
    deploymentId: row.deploymentId,
    buildId: row.buildId,
    owner: row.owner,
    nodeId: row.nodeId,
    status: row.status,
    desired: row.desired,
    reason: row.reason,
    placement: row.placement,
    formnetIp: row.formnetIp,
    imageDigest: row.imageDigest,
    resources: { vcpu: row.vcpu, memoryMb: row.memoryMb, diskGb: row.diskGb },
    metrics: metrics?.success ? metrics.data : null,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}

export function toDeploymentDto(row: TDeploymentRow): TDeploymentDto {
  return {
    deploymentId: row.id,
    owner: row.owner,
    name: row.name,
    buildId: row.buildId,
    replicas: row.replicas,
    notice: row.notice,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}
