import { z } from "zod";
import { ZInstanceStatus } from "./protocol/common";

// Lifecycle states of builds, replicas, nodes and jobs: what the console stores (parsed at the
// repository boundary), what its API returns and what the UI and the CLI show. One list each.

/** The phases a build passes on its way to running, in order (the timeline's steps). */
export const BUILD_PHASES = [
  "queued",
  "claimed",
  "building",
  "built",
  "distributing",
  "booting",
  "running",
] as const;
type TBuildPhase = (typeof BUILD_PHASES)[number];

/** Phases of a build: its own (`queued` → `built`), then of its image's deployment; or how it ended. */
export const ZBuildStatus = z.enum([...BUILD_PHASES, "failed", "cancelled"]);
export type TBuildStatus = z.infer<typeof ZBuildStatus>;

/** The phases from `first` to `last`, in order. */
function phasesFrom(first: TBuildPhase, last: TBuildPhase): readonly TBuildPhase[] {
  return BUILD_PHASES.slice(BUILD_PHASES.indexOf(first), BUILD_PHASES.indexOf(last) + 1);
}

/** Unfinished builds: they have a phase deadline and can be cancelled. */
export const ACTIVE_BUILD_STATUSES = phasesFrom("queued", "building");

/** Builds with an image: they can be shipped, or rolled back to. */
export const SHIPPABLE_BUILD_STATUSES = phasesFrom("built", "running");

const ACTIVE_BUILD = new Set<TBuildStatus>(ACTIVE_BUILD_STATUSES);
const SHIPPABLE_BUILD = new Set<TBuildStatus>(SHIPPABLE_BUILD_STATUSES);

/** Whether the build is still being built (queued, claimed or building). */
export function isActiveBuild(status: TBuildStatus): boolean {
  return ACTIVE_BUILD.has(status);
}

/** Whether the build has an image that can be shipped. */
export function isShippableBuild(status: TBuildStatus): boolean {
  return SHIPPABLE_BUILD.has(status);
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

/**
 * Replicas placed on a node — every status but the ended ones: they count towards the
 * deployment's replicas and use capacity.
 */
export const PLACED_REPLICA_STATUSES = ZReplicaStatus.exclude(["failed", "deleted", "lost"]).options;
const PLACED_REPLICA = new Set<TReplicaStatus>(PLACED_REPLICA_STATUSES);

/** Whether a replica with this status is placed on its node. */
export function isPlacedReplica(status: TReplicaStatus): boolean {
  return PLACED_REPLICA.has(status);
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

/** A custom domain's claim: pending until its owner proves control, then verified. */
export const ZDomainStatus = z.enum(["pending", "verified"]);
export type TDomainStatus = z.infer<typeof ZDomainStatus>;

/** A replica's health as the edge's checks see it. */
export const ZHealthState = z.enum(["unknown", "healthy", "unhealthy"]);
export type THealthState = z.infer<typeof ZHealthState>;
