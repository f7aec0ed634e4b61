"use client";
import { useQuery } from "@tanstack/react-query";
import Link from "next/link";
import { useParams, useSearchParams } from "next/navigation";
import { Suspense } from "react";
import { SessionGate } from "../../_components/session-gate";
import { Card, ErrorState, Fields, ListSkeleton, Mono, PageHeader, StatusBadge } from "../../_components/ui";
import { formatAgo, formatBytes, formatResources, shortId } from "../../_lib/format";
import { useTRPC } from "../../_lib/trpc";
import { BuildActions } from "../_components/build-actions";
import { BuildLogs } from "../_components/build-logs";
import { BuildTimeline } from "../_components/build-timeline";
import { InstancesTable } from "../_components/instances-table";

const SETTLED = new Set(["running", "failed", "cancelled"]);

function FailurePanel({
  failure,
  status,
}: {
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
      <p className="mt-1 whitespace-pre-wrap font-mono text-xs">{failure.reason}</p>
      <p className="mt-2">
        {cancelled
          ? "Nothing more runs for it. "
          : failure.line !== null
            ? `Fix line ${failure.line} of your Formfile and `
            : "Check the log below, then "}
        <Link href="/deploy" className="font-medium underline">
          {cancelled ? "Start a new deployment" : "deploy again"}
        </Link>
        .
      </p>
    </div>
  );
}

function BuildDetail({ buildId }: { buildId: string }) {
  const trpc = useTRPC();
  const search = useSearchParams();
  const build = useQuery(
    trpc.builds.get.queryOptions(
      { buildId },
      { refetchInterval: (q) => (q.state.data && SETTLED.has(q.state.data.status) ? 10_000 : 1500) },
    ),
  );
  const instances = useQuery(
    trpc.instances.list.queryOptions({ buildId, all: false }, { refetchInterval: 3000 }),
  );
  if (build.isLoading) return <ListSkeleton rows={6} />;
  if (build.error || !build.data) {
    return <ErrorState error={build.error ?? { message: "No data" }} what={`build ${shortId(buildId)}`} />;
  }
  const b = build.data;
  return (
    <>
      <PageHeader
        title={b.name}
        description={
          <span className="flex flex-wrap items-center gap-2">
            <StatusBadge status={b.status} testId="build-status" />
            <Mono title={b.buildId}>{b.buildId}</Mono>
          </span>
        }
        actions={
          <BuildActions
            buildId={b.buildId}
            status={b.status}
            initialReplicas={Number(search.get("replicas") ?? 3) || 3}
            autoShip={search.get("ship") === "1"}
          />
        }
      />
      <div className="space-y-6">
        <Card title="Timeline">
          <BuildTimeline status={b.status} timeline={b.timeline} />
          {b.phaseDeadlineAt && !SETTLED.has(b.status) ? (
            <p className="mt-3 text-xs text-slate-500">
              This phase fails if it is not done by {b.phaseDeadlineAt.toLocaleTimeString()}.
            </p>
          ) : null}
        </Card>
        {b.failure ? <FailurePanel failure={b.failure} status={b.status} /> : null}
        <Card title="Details">
          <Fields
            items={[
              { label: "Resources", value: formatResources(b.resources) },
              { label: "Context", value: `${formatBytes(b.contextSizeBytes)} · ${shortId(b.contextDigest)}` },
              {
                label: "Image",
                value: b.imageDigest ? (
                  <Mono title={b.imageDigest}>
                    {shortId(b.imageDigest)} · {formatBytes(b.imageSizeBytes)}
                  </Mono>
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
                ) : (
                  "waiting for a node"
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
              Not shipped yet. Once the build is done, <strong>Ship</strong> places replicas on distinct
              nodes.
            </p>
          )}
        </Card>
      </div>
    </>
  );
}

export default function BuildPage() {
  const params = useParams<{ id: string }>();
  return (
    <SessionGate what="build">
      <Suspense fallback={<ListSkeleton rows={6} />}>
        <BuildDetail buildId={params.id} />
      </Suspense>
    </SessionGate>
  );
}
