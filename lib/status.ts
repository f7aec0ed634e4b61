import { z } from "zod";
import { ZInstanceStatus } from "./protocol/common";

// Lifecycle states of builds, replicas, nodes and jobs: what the console stores (parsed at the
// repository boundary), what its API returns and what the UI and the CLI show. One list each.

/** Phases of a build: its own (`queued` → `built`), then of its image's deployment. */
export const ZBuildStatus = z.enum([
  "queued",
  "claimed",
  "building",
  "built",
  "distributing",
  "booting",
  "running",
  "failed",
  "cancelled",
]);
export type TBuildStatus = z.infer<typeof ZBuildStatus>;

/** The phases a build passes on its way to running, in order (the timeline's steps). */
export const BUILD_PHASES = [
  "queued",
  "claimed",
  "building",
  "built",
  "distributing",
  "booting",
  "running",
] as const satisfies readonly TBuildStatus[];

/** Unfinished builds: they have a phase deadline and can be cancelled. */
export const ACTIVE_BUILD_STATUSES = [
  "queued",
  "claimed",
  "building",
] as const satisfies readonly TBuildStatus[];

/** Builds with an image: they can be shipped, or rolled back to. */
export const SHIPPABLE_BUILD_STATUSES = [
  "built",
  "distributing",
  "booting",
  "running",
] as const satisfies readonly TBuildStatus[];

/** Whether the build is still being built (queued, claimed or building). */
export function isActiveBuild(status: TBuildStatus): boolean {
  return (ACTIVE_BUILD_STATUSES as readonly TBuildStatus[]).includes(status);
}

/** Whether the build has an image that can be shipped. */
export function isShippableBuild(status: TBuildStatus): boolean {
  return (SHIPPABLE_BUILD_STATUSES as readonly TBuildStatus[]).includes(status);
}

/** Whether nothing more happens to the build without its owner (running, failed or cancelled). */
export function isSettledBuild(status: TBuildStatus): boolean {
  return status === "running" || status === "failed" || status === "cancelled";
}

/** A replica's status as the console records it: what its agent reports, or `lost` with its node. */
export const ZReplicaStatus = z.enum([...ZInstanceStatus.options, "lost"]);
export type TReplicaStatus = z.infer<typeof ZReplicaStatus>;

/**
 * What a person is shown: the recorded status, corrected by what the owner asked while the node
 * carries it out (a deleted replica is `deleting` until its node confirms).
 */
export const ZShownReplicaStatus = z.enum([...ZReplicaStatus.options, "deleting"]);
export type TShownReplicaStatus = z.infer<typeof ZShownReplicaStatus>;

/** Replicas placed on a node: they count towards the deployment's replicas and use capacity. */
export const PLACED_REPLICA_STATUSES = [
  "pending",
  "booting",
  "running",
  "stopping",
  "stopped",
] as const satisfies readonly TReplicaStatus[];

/** Whether a replica with this status is placed on its node. */
export function isPlacedReplica(status: TReplicaStatus): boolean {
  return (PLACED_REPLICA_STATUSES as readonly TReplicaStatus[]).includes(status);
}

/** What the owner asked of a replica. */
export const ZDesiredState = z.enum(["running", "stopped", "deleted"]);
export type TDesiredState = z.infer<typeof ZDesiredState>;

/** A node as judged by its heartbeats. */
export const ZNodeStatus = z.enum(["online", "offline"]);
export type TNodeStatus = z.infer<typeof ZNodeStatus>;

/** A job of the leased queue: queued → leased (offered) → running → done | failed | cancelled. */
export const ZJobState = z.enum(["queued", "leased", "running", "done", "failed", "cancelled"]);
export type TJobState = z.infer<typeof ZJobState>;
