"use client";
import { useQuery } from "@tanstack/react-query";
import Link from "next/link";
import { useParams } from "next/navigation";
import { isSettledBuild } from "@/lib/status";
import { AppUrl } from "../../_components/app-url";
import { CopyValue } from "../../_components/copy-button";
import { SessionGate } from "../../_components/session-gate";
import {
  Card,
  ErrorState,
  Fields,
  ListSkeleton,
  Mono,
  NotFoundState,
  PageHeader,
  StatusBadge,
} from "../../_components/ui";
import { formatAgo, formatBytes, formatResources, shortId } from "../../_lib/format";
import { useTRPC } from "../../_lib/trpc";
import { suggestedReplicas, useCapacity } from "../../_lib/use-capacity";
import { BuildActions } from "../_components/build-actions";
import { BuildLogs } from "../_components/build-logs";
import { BuildTimeline } from "../_components/build-timeline";
import { DeploymentStatus } from "../_components/deployment-status";
import { InstancesTable } from "../_components/instances-table";

const BUILD_ID = /^[0-9a-f]{64}$/;
const BACK = { href: "/builds", label: "Your builds" };

function FailurePanel({
  buildId,
  failure,
  status,
}: {
  buildId: string;
  failure: { reason: string; line: number | null };
  status: string;
}) {
  const cancelled = status === "cancelled";
  const tone = cancelled
    ? "border-amber-200 bg-amber-50 text-amber-900 dark:border-amber-900 dark:bg-amber-950/40 dark:text-amber-200"
    : "border-red-200 bg-red-50 text-red-800 dark:border-red-900 dark:bg-red-950/50 dark:text-red-200";
  return (
    <div
      role={cancelled ? "status" : "alert"}
      data-testid="build-failure"
      className={`rounded-lg border px-4 py-3 text-sm ${tone}`}
    >
      <p className="font-medium">
        {cancelled
          ? "Build cancelled."
          : `Build failed${failure.line !== null ? ` at Formfile line ${failure.line}` : ""}.`}
      </p>
      <p className="mt-1 whitespace-pre-wrap break-words font-mono text-xs">{failure.reason}</p>
      <p className="mt-2">
        {cancelled
          ? "Nothing more runs for it. "
          : failure.line !== null
            ? `Fix line ${failure.line} of your Formfile, then `
            : "Check the log below, then "}
        <Link href={`/deploy?from=${buildId}`} className="font-medium underline">
          deploy again with this Formfile
        </Link>
        .
      </p>
    </div>
  );
}

function BuildDetail({ buildId }: { buildId: string }) {
  const trpc = useTRPC();
  const build = useQuery(
    trpc.builds.get.queryOptions(
      { buildId },
      { refetchInterval: (q) => (q.state.data && isSettledBuild(q.state.data.status) ? 10_000 : 1500) },
    ),
  );
  const found = build.data !== undefined;
  const instances = useQuery(
    trpc.instances.list.queryOptions({ buildId, all: false }, { refetchInterval: 3000, enabled: found }),
  );
  const deployment = useQuery(
    trpc.deployments.forBuild.queryOptions({ buildId }, { refetchInterval: 3000, enabled: found }),
  );
  const capacity = useCapacity(build.data ? build.data.resources : null);
  if (build.isLoading) return <ListSkeleton rows={6} />;
  if (build.error || !build.data) {
    return (
      <ErrorState
        error={build.error ?? { message: "No data" }}
        what={`build ${shortId(buildId)}`}
        back={BACK}
      />
    );
  }
  const b = build.data;
  const d = deployment.data ?? null;
  const waiting =
    d && d.buildId === b.buildId && d.placed === 0 && d.waiting > 0 && d.waitingSince
      ? { since: d.waitingSince, reason: d.waitingReason ?? "waiting to be placed" }
      : null;
  return (
    <>
      <PageHeader
        title={b.name}
        description={
          <span className="flex flex-wrap items-center gap-2">
            <StatusBadge status={b.status} testId="build-status" />
            <CopyValue value={b.buildId} label="Copy build id" testId="build-id" />
          </span>
        }
        actions={
          <BuildActions
            buildId={b.buildId}
            status={b.status}
            defaultReplicas={suggestedReplicas(capacity.data?.fitting)}
          />
        }
      />
      <div className="space-y-6">
        <Card title="Timeline">
          <BuildTimeline status={b.status} timeline={b.timeline} waiting={waiting} />
          {b.phaseDeadlineAt && !isSettledBuild(b.status) && b.status !== "built" ? (
            <p className="mt-3 text-xs text-slate-500">
              This phase fails if it is not done by {b.phaseDeadlineAt.toLocaleTimeString()}.
            </p>
          ) : null}
        </Card>
        {b.failure ? <FailurePanel buildId={b.buildId} failure={b.failure} status={b.status} /> : null}
        <Card title="Deployment">
          {deployment.isLoading ? (
            <ListSkeleton rows={1} />
          ) : (
            <DeploymentStatus buildId={b.buildId} deployment={d} />
          )}
        </Card>
        <Card title="Details">
          <Fields
            items={[
              { label: "Resources", value: formatResources(b.resources) },
              {
                label: "App URL",
                value: <AppUrl app={b.app} formnetIp={instances.data?.[0]?.formnetIp ?? null} />,
              },
              { label: "Context", value: `${formatBytes(b.contextSizeBytes)} · ${shortId(b.contextDigest)}` },
              {
                label: "Image",
                value: b.imageDigest ? (
                  <span className="inline-flex items-center gap-1">
                    <Mono title={b.imageDigest}>
                      {shortId(b.imageDigest)} · {formatBytes(b.imageSizeBytes)}
                    </Mono>
                  </span>
                ) : (
                  "not built yet"
                ),
              },
              {
                label: "Built on node",
                value: b.nodeId ? (
                  <Link
                    href={`/nodes/${b.nodeId}`}
                    className="text-sky-700 hover:underline dark:text-sky-400"
                  >
                    {shortId(b.nodeId)}
                  </Link>
                ) : b.status === "queued" ? (
                  "waiting for a node"
                ) : (
                  "—"
                ),
              },
              { label: "Created", value: formatAgo(b.createdAt) },
              { label: "Updated", value: formatAgo(b.updatedAt) },
            ]}
          />
        </Card>
        <Card title="Log">
          <BuildLogs buildId={b.buildId} />
        </Card>
        <Card title="Instances">
          {instances.data && instances.data.length > 0 ? (
            <InstancesTable instances={instances.data} />
          ) : (
            <p className="text-sm text-slate-600 dark:text-slate-400">
              No replica of this build is placed yet{waiting ? ` (${waiting.reason})` : ""}.
            </p>
          )}
        </Card>
      </div>
    </>
  );
}

export default function BuildPage() {
  const params = useParams<{ id: string }>();
  const id = decodeURIComponent(params.id);
  return (
    <SessionGate what="build">
      {BUILD_ID.test(id) ? (
        <BuildDetail buildId={id} />
      ) : (
        <NotFoundState title={`No build ${id.slice(0, 80)}`} back={BACK}>
          A build id is 64 hexadecimal characters, as <code>form pack build</code> and the Builds page show
          it.
        </NotFoundState>
      )}
    </SessionGate>
  );
}
