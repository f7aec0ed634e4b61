import { z } from "zod";
import type { TInstanceHealthRow } from "@/server/db/repositories/ingress-repository";
import type { TServices } from "@/server/services/services";
import { ZAppUrl } from "./app-urls";
import type { TReplicaHealth } from "./health-checker";
import type { TIngressService } from "./module";
import { type TTrafficSummary, ZTrafficSummary } from "./traffic";

export const ZReplicaHealthDto = z.object({
  instanceId: z.string(),
  /** unknown: not probed yet (no traffic); healthy: gets traffic; unhealthy: gets none. */
  state: z.enum(["unknown", "healthy", "unhealthy"]),
  check: z.string(),
  since: z.date().nullable(),
  lastCheckAt: z.date().nullable(),
  lastOkAt: z.date().nullable(),
  /** The last failures, newest last. */
  failures: z.array(z.object({ at: z.date(), reason: z.string() })),
  /** Restarts the console asked for because the replica was unhealthy. */
  restarts: z.number(),
  /** What the console last did about its health ("restarted …", "replaced …"). */
  action: z.string().nullable(),
});
export type TReplicaHealthDto = z.infer<typeof ZReplicaHealthDto>;

export const ZIngressStatus = z.object({
  deploymentId: z.string(),
  name: z.string(),
  /** Whether this console runs the edge at all (FORMATION_INGRESS). */
  enabled: z.boolean(),
  urls: z.array(ZAppUrl),
  /** Replicas getting traffic now. */
  healthy: z.number(),
  replicas: z.array(ZReplicaHealthDto),
  /** What this console's edge served for the deployment (each edge counts its own). */
  traffic: ZTrafficSummary,
});
export type TIngressStatus = z.infer<typeof ZIngressStatus>;

const ZStoredFailures = z.array(z.object({ at: z.coerce.date(), reason: z.string() }));

const EMPTY_TRAFFIC: TTrafficSummary = {
  requestsPerSecond: 0,
  status: { "2xx": 0, "3xx": 0, "4xx": 0, "5xx": 0 },
  p50Ms: null,
  p99Ms: null,
  retried: 0,
  windows: [],
  log: [],
};

/**
 * One replica's health: this console's live view (state, checks, failures) with what the
 * recording console stored (restarts, actions) — or the stored view alone when this console has
 * not probed it (yet).
 */
function healthDto(
  instanceId: string,
  live: TReplicaHealth | undefined,
  stored: TInstanceHealthRow | undefined,
): TReplicaHealthDto {
  const storedFailures = stored ? ZStoredFailures.safeParse(JSON.parse(stored.failures)) : null;
  const state = live?.state ?? stored?.state ?? "unknown";
  return {
    instanceId,
    state: state === "healthy" || state === "unhealthy" ? state : "unknown",
    check: live?.check ?? stored?.check ?? "—",
    since: live?.since ?? stored?.since ?? null,
    lastCheckAt: live?.lastCheckAt ?? stored?.lastCheckAt ?? null,
    lastOkAt: live?.lastOkAt ?? stored?.lastOkAt ?? null,
    failures: live?.failures ?? (storedFailures?.success ? storedFailures.data : []),
    restarts: stored?.restarts ?? 0,
    action: stored?.action ?? null,
  };
}

/** Health of `instanceIds` (in that order). */
export async function replicaHealth(
  ingress: TIngressService | undefined,
  instanceIds: readonly string[],
): Promise<TReplicaHealthDto[]> {
  const stored = new Map((await ingress?.repo.healthOf(instanceIds))?.map((r) => [r.instanceId, r]) ?? []);
  return instanceIds.map((id) => healthDto(id, ingress?.health.get(id), stored.get(id)));
}

/** The owner's deployment as the edge sees it: URLs, replica health, traffic. NOT_FOUND otherwise. */
export async function ingressStatus(opts: {
  services: Pick<TServices, "deploymentViews" | "appUrls" | "ingress">;
  viewer: string;
  deploymentId: string;
}): Promise<TIngressStatus> {
  const { ingress } = opts.services;
  const dep = await opts.services.deploymentViews.ingressView({
    owner: opts.viewer,
    deploymentId: opts.deploymentId,
  });
  const replicas = await replicaHealth(ingress, dep.instanceIds);
  return {
    deploymentId: dep.deploymentId,
    name: dep.name,
    enabled: ingress !== undefined,
    urls: opts.services.appUrls.urlsFor({ owner: dep.owner, name: dep.name, exposedPorts: dep.exposedPorts }),
    healthy: replicas.filter((r) => r.state === "healthy").length,
    replicas,
    traffic: ingress?.traffic.summary(dep.deploymentId) ?? EMPTY_TRAFFIC,
  };
}
