"use client";
import { useQuery } from "@tanstack/react-query";
import Link from "next/link";
import { useParams } from "next/navigation";
import { SessionGate } from "../../_components/session-gate";
import { MetricCharts } from "../../_components/sparkline";
import { TerminalPanel } from "../../_components/terminal/terminal-panel";
import { Card, ErrorState, Fields, ListSkeleton, Mono, PageHeader, StatusBadge } from "../../_components/ui";
import { formatAgo, formatResources, shortId } from "../../_lib/format";
import { useTRPC } from "../../_lib/trpc";
import { BuildCommitmentPanel } from "../_components/build-commitment";
import { InstanceActions } from "../_components/instance-actions";
import { SerialLog } from "../_components/serial-log";

function InstanceDetail({ instanceId }: { instanceId: string }) {
  const trpc = useTRPC();
  const instance = useQuery(trpc.instances.get.queryOptions({ instanceId }, { refetchInterval: 3000 }));
  const metrics = useQuery(
    trpc.instances.metrics.queryOptions({ instanceId, sinceMinutes: 60 }, { refetchInterval: 10_000 }),
  );
  const nodes = useQuery(trpc.nodes.list.queryOptions({}));
  if (instance.isLoading) return <ListSkeleton rows={6} />;
  if (instance.error || !instance.data) {
    return <ErrorState error={instance.error ?? { message: "No data" }} what={`instance ${instanceId}`} />;
  }
  const i = instance.data;
  const node = nodes.data?.find((n) => n.nodeId === i.nodeId);
  return (
    <>
      <PageHeader
        title={i.instanceId}
        description={
          <span className="flex flex-wrap items-center gap-2">
            <StatusBadge status={i.status} testId="instance-status" />
            {i.desired !== i.status ? <span className="text-xs">→ {i.desired}</span> : null}
            {i.reason ? <span className="text-xs text-amber-700 dark:text-amber-400">{i.reason}</span> : null}
          </span>
        }
      />
      <div className="space-y-6">
        <Card title="Replica">
          <Fields
            items={[
              { label: "formnet IP", value: <Mono>{i.formnetIp ?? "not joined yet"}</Mono> },
              {
                label: "Node",
                value: (
                  <Link
                    href={`/nodes/${i.nodeId}`}
                    className="text-sky-700 hover:underline dark:text-sky-400"
                  >
                    {shortId(i.nodeId)}
                  </Link>
                ),
              },
              { label: "Region", value: node?.region ?? "—" },
              {
                label: "Build",
                value: (
                  <Link
                    href={`/builds/${i.buildId}`}
                    className="text-sky-700 hover:underline dark:text-sky-400"
                  >
                    {shortId(i.buildId)}
                  </Link>
                ),
              },
              {
                label: "Image digest",
                value: <Mono title={i.imageDigest}>{shortId(i.imageDigest, 20)}</Mono>,
              },
              { label: "Resources", value: formatResources(i.resources) },
              { label: "Created", value: formatAgo(i.createdAt) },
              { label: "Updated", value: formatAgo(i.updatedAt) },
            ]}
          />
          {i.formnetIp ? (
            <p className="mt-4 text-sm text-slate-600 dark:text-slate-400">
              From a laptop on formnet (<code>form manage formnet-up</code>):{" "}
              <code className="rounded bg-slate-100 px-1.5 py-0.5 dark:bg-slate-800">
                ssh USER@{i.formnetIp}
              </code>
            </p>
          ) : null}
        </Card>
        <Card title="Image digest ⇄ on-chain commitment">
          <BuildCommitmentPanel instanceId={i.instanceId} />
        </Card>
        <Card title="Actions">
          <InstanceActions
            instanceId={i.instanceId}
            buildId={i.buildId}
            status={i.status}
            desired={i.desired}
          />
        </Card>
        <Card title="Metrics · last hour">
          <MetricCharts
            history={metrics.data ?? []}
            memoryMb={i.resources.memoryMb}
            diskGb={i.resources.diskGb}
          />
        </Card>
        <Card title="Serial console">
          <SerialLog instanceId={i.instanceId} />
        </Card>
        <Card title="Terminal">
          {/* The web SSH terminal (xterm ⇄ WebSocket ⇄ SSH over formnet) mounts here; see the terminal helper's component. */}
          <div
            data-testid="terminal-slot"
            data-instance-id={i.instanceId}
            data-formnet-ip={i.formnetIp ?? ""}
            className="flex min-h-48 items-center justify-center rounded-md bg-slate-950 p-4 font-mono text-sm text-slate-400"
          >
            {i.status === "running" ? (
              <div className="w-full">
                <TerminalPanel instanceId={i.instanceId} />
              </div>
            ) : (
              "The terminal is available once the instance is running."
            )}
          </div>
        </Card>
      </div>
    </>
  );
}

export default function InstancePage() {
  const params = useParams<{ id: string }>();
  return (
    <SessionGate what="instance">
      <InstanceDetail instanceId={params.id} />
    </SessionGate>
  );
}
