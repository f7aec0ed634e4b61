import { z } from "zod";
import { ZMetrics } from "@/lib/protocol";
import {
  isPlacedReplica,
  type TShownReplicaStatus,
  ZDesiredState,
  ZReplicaStatus,
  ZShownReplicaStatus,
} from "@/lib/status";
import type { TDeploymentRow } from "@/server/db/repositories/deployments-repository";
import type { TInstanceRow } from "@/server/db/repositories/instances-repository";
import { ZAppUrl } from "@/server/ingress/app-urls";
import { parseLastMetrics } from "@/server/services/metrics/metrics-dto";

/** What an instance runs, from its build's Formfile: the app's NAME, SSH user and exposed ports. */
export const ZAppInfo = z.object({
  name: z.string(),
  /** The Formfile's first USER (the account `ssh` and the web terminal log in as). */
  sshUser: z.string().nullable(),
  exposedPorts: z.array(z.number()),
  /**
   * The app's public URL through the console's edge (its first EXPOSEd port); null when the
   * Formfile EXPOSEs nothing or the console runs without ingress (FORMATION_INGRESS=0).
   */
  url: z.string().nullable(),
  /** One URL per EXPOSEd port (docs/ingress.md); the first is `url`. */
  urls: z.array(ZAppUrl),
});
export type TAppInfo = z.infer<typeof ZAppInfo>;

/**
 * The status a person should see: the node's report, corrected by what the owner asked for while
 * the node is still carrying it out (a stopping VM still reports "running"; a deleted replica is
 * "deleting" until its node confirms).
 */
export function shownStatus(row: Pick<TInstanceRow, "status" | "desired">): TShownReplicaStatus {
  if (row.desired === "deleted" && row.status !== "deleted") return "deleting";
  if (row.desired === "stopped" && (row.status === "running" || row.status === "booting")) return "stopping";
  return row.status;
}

export const ZInstanceDto = z.object({
  instanceId: z.string(),
  deploymentId: z.string(),
  buildId: z.string(),
  owner: z.string(),
  nodeId: z.string(),
  /** What to show: the node's status corrected by a pending stop/delete (`shownStatus`). */
  status: ZShownReplicaStatus,
  /** The status the node last reported. */
  reportedStatus: ZReplicaStatus,
  desired: ZDesiredState,
  reason: z.string().nullable(),
  /** Why the replica is on its node when it replaced another one (e.g. its node went offline). */
  placement: z.string().nullable(),
  /** While its boot job waits for the node: why (the scheduler's words), else null. */
  waiting: z.string().nullable(),
  app: ZAppInfo,
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
  /** Desired replicas. */
  replicas: z.number(),
  /** Replicas of the current build on a node (pending, booting, running, stopping or stopped). */
  placed: z.number(),
  running: z.number(),
  /** Desired replicas not placed yet, and why (e.g. "waiting for capacity: needs 2 vCPU, largest free 1"). */
  waiting: z.number(),
  waitingReason: z.string().nullable(),
  /** Since when the deployment waits (its last ship or rollback), while it does. */
  waitingSince: z.date().nullable(),
  notice: z.string().nullable(),
  app: ZAppInfo,
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

export function toInstanceDto(row: TInstanceRow, app: TAppInfo, waiting: string | null = null): TInstanceDto {
  return {
    instanceId: row.id,
    deploymentId: row.deploymentId,
    buildId: row.buildId,
    owner: row.owner,
    nodeId: row.nodeId,
    status: shownStatus(row),
    reportedStatus: row.status,
    desired: row.desired,
    reason: row.reason,
    placement: row.placement,
    waiting,
    app,
    formnetIp: row.formnetIp,
    imageDigest: row.imageDigest,
    resources: { vcpu: row.vcpu, memoryMb: row.memoryMb, diskGb: row.diskGb },
    metrics: parseLastMetrics(row.lastMetrics),
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}

/** A deployment with its replica counts; `instances` are all of its rows, of any build. */
export function toDeploymentDto(
  row: TDeploymentRow,
  opts: { instances: readonly TInstanceRow[]; app: TAppInfo },
): TDeploymentDto {
  const current = opts.instances.filter((i) => i.buildId === row.buildId && i.desired !== "deleted");
  const placed = current.filter((i) => isPlacedReplica(i.status)).length;
  const waiting = Math.max(0, row.replicas - placed);
  return {
    deploymentId: row.id,
    owner: row.owner,
    name: row.name,
    buildId: row.buildId,
    replicas: row.replicas,
    placed,
    running: current.filter((i) => i.status === "running").length,
    waiting,
    // The reconciler's notice is refreshed on every pass; shown only while replicas really wait.
    waitingReason: waiting > 0 ? (row.notice ?? "waiting to be placed") : null,
    waitingSince: waiting > 0 ? row.updatedAt : null,
    notice: row.notice,
    app: opts.app,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}
