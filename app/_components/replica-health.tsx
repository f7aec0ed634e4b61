"use client";
import type { inferRouterOutputs } from "@trpc/server";
import type { AppRouter } from "@/server/api/root";
import { formatAgo } from "../_lib/format";
import { Badge, type TTone } from "./ui";

export type TReplicaHealth = inferRouterOutputs<AppRouter>["ingress"]["health"][number];

const TONE: Record<TReplicaHealth["state"], TTone> = { healthy: "green", unhealthy: "red", unknown: "gray" };
const WORD: Record<TReplicaHealth["state"], string> = {
  healthy: "healthy",
  unhealthy: "unhealthy",
  unknown: "not checked yet",
};

/** A replica's health as a badge: green gets traffic, red gets none, grey is waiting for its first check. */
export function HealthBadge({ health }: { health: TReplicaHealth | undefined }) {
  if (!health) return <Badge tone="gray">—</Badge>;
  return (
    <Badge tone={TONE[health.state]} testId="health-state">
      {WORD[health.state]}
    </Badge>
  );
}

/**
 * One replica's health in full: the check, when it last ran and passed, the last failures (newest
 * first) and what the console did about them (restarted, replaced).
 */
export function ReplicaHealthDetail({ health }: { health: TReplicaHealth | undefined }) {
  if (!health) {
    return (
      <p className="text-sm text-slate-600 dark:text-slate-400">
        Health checks start once the replica runs and its Formfile EXPOSEs a port.
      </p>
    );
  }
  const failures = [...health.failures].reverse();
  return (
    <div className="space-y-3 text-sm" data-testid="replica-health">
      <p className="flex flex-wrap items-center gap-2">
        <HealthBadge health={health} />
        <span>
          {health.state === "healthy"
            ? "gets traffic from the edge"
            : health.state === "unhealthy"
              ? "gets no traffic until a check passes"
              : "gets traffic after its first passing check"}
          {health.since ? ` · since ${formatAgo(health.since)}` : ""}
        </span>
      </p>
      <p className="text-slate-600 dark:text-slate-400">
        Check: <code>{health.check}</code> · last run {formatAgo(health.lastCheckAt)} · last passed{" "}
        {formatAgo(health.lastOkAt)}
      </p>
      {health.action ? (
        <p className="text-amber-700 dark:text-amber-400" data-testid="health-action">
          {health.action}
          {health.restarts > 0 ? ` (restarts for health: ${health.restarts})` : ""}
        </p>
      ) : null}
      {failures.length > 0 ? (
        <div>
          <h3 className="mb-1 text-xs font-semibold uppercase tracking-wide text-slate-500">Last failures</h3>
          <ul className="space-y-1" data-testid="health-failures">
            {failures.map((f) => (
              <li key={`${String(f.at)}-${f.reason}`} className="flex flex-wrap gap-2">
                <span className="tabular-nums text-slate-500">{formatAgo(f.at)}</span>
                <span className="break-all font-mono text-xs">{f.reason}</span>
              </li>
            ))}
          </ul>
        </div>
      ) : (
        <p className="text-slate-500">No failed check recorded.</p>
      )}
    </div>
  );
}
