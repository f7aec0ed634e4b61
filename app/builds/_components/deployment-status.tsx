"use client";
import type { inferRouterOutputs } from "@trpc/server";
import Link from "next/link";
import type { AppRouter } from "@/server/api/root";
import { shortId } from "../../_lib/format";

export type TDeployment = NonNullable<inferRouterOutputs<AppRouter>["deployments"]["forBuild"]>;

/** "2 of 3 replicas running", or "0 of 1 replicas placed — waiting for capacity: …", from live data. */
export function replicaSummary(d: Pick<TDeployment, "placed" | "running" | "replicas" | "waiting">): string {
  return d.waiting > 0
    ? `${d.placed} of ${d.replicas} replicas placed`
    : `${d.running} of ${d.replicas} replicas running`;
}

/**
 * The live state of the deployment a build belongs to: desired vs placed vs running replicas and,
 * while some wait, why (the same words as the CLI's `pack status`). Replaces the one-shot notice of
 * the ship answer, which went stale as soon as the deployment moved on.
 */
export function DeploymentStatus({
  buildId,
  deployment,
}: {
  buildId: string;
  deployment: TDeployment | null;
}) {
  if (!deployment) {
    return (
      <p className="text-sm text-slate-600 dark:text-slate-400" data-testid="deployment-status">
        Not shipped yet. Once the build is done, <strong>Ship</strong> places replicas on distinct nodes.
      </p>
    );
  }
  const d = deployment;
  if (d.buildId !== buildId) {
    return (
      <p className="text-sm text-slate-600 dark:text-slate-400" data-testid="deployment-status">
        The deployment{" "}
        <Link
          href={`/deployments/${d.deploymentId}`}
          className="font-medium text-sky-700 underline dark:text-sky-400"
        >
          {d.name}
        </Link>{" "}
        now runs build{" "}
        <Link
          href={`/builds/${d.buildId}`}
          className="font-mono text-xs text-sky-700 underline dark:text-sky-400"
        >
          {shortId(d.buildId)}
        </Link>
        ; ship this build again (or roll back) to run it.
      </p>
    );
  }
  return (
    <div data-testid="deployment-status" className="text-sm">
      <p>
        <Link
          href={`/deployments/${d.deploymentId}`}
          className="font-medium text-sky-700 underline dark:text-sky-400"
        >
          {d.name}
        </Link>
        : <span className="font-medium">{replicaSummary(d)}</span>
        {d.waiting === 0 && d.running < d.replicas ? " (the others are booting)" : ""}
      </p>
      {d.waitingReason ? (
        <p className="mt-1 text-amber-800 dark:text-amber-300" data-testid="waiting-reason">
          {d.waiting} replica{d.waiting === 1 ? "" : "s"} {d.waiting === 1 ? "is" : "are"} {d.waitingReason}.
          They are placed by themselves as soon as a node has room.
        </p>
      ) : null}
    </div>
  );
}
