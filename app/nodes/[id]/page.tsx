"use client";
import { useQuery } from "@tanstack/react-query";
import { useParams } from "next/navigation";
import { SessionGate } from "../../_components/session-gate";
import { MetricCharts } from "../../_components/sparkline";
import { Card, ErrorState, Fields, ListSkeleton, Mono, PageHeader } from "../../_components/ui";
import { formatAgo, formatResources } from "../../_lib/format";
import { useTRPC } from "../../_lib/trpc";
import { useNow } from "../../_lib/use-now";
import { CapacityBars } from "../_components/capacity-bars";
import { NodeHealthBadge } from "../_components/node-health";

function NodeDetail({ nodeId }: { nodeId: string }) {
  const trpc = useTRPC();
  const node = useQuery(trpc.nodes.get.queryOptions({ nodeId, sinceMinutes: 60 }, { refetchInterval: 5000 }));
  const now = useNow(5000);
  if (node.isLoading) return <ListSkeleton rows={6} />;
  if (node.error || !node.data)
    return <ErrorState error={node.error ?? { message: "No data" }} what={`node ${nodeId}`} />;
  const n = node.data;
  return (
    <>
      <PageHeader
        title="Node"
        description={
          <span className="flex flex-wrap items-center gap-2">
            <NodeHealthBadge
              status={n.status}
              healthy={n.healthy}
              connected={n.connected}
              reason={n.statusReason}
            />
            <Mono>{n.nodeId}</Mono>
          </span>
        }
      />
      <div className="space-y-6">
        <Card title="Capacity">
          <div className="grid gap-3 sm:grid-cols-3">
            <CapacityBars allocated={n.allocated} capacity={n.capacity} />
          </div>
        </Card>
        <Card title="Details">
          <Fields
            items={[
              { label: "Operator", value: <Mono>{n.operator}</Mono> },
              { label: "Region", value: n.region },
              { label: "Acceleration", value: n.accel.toUpperCase() },
              { label: "Capacity", value: formatResources(n.capacity) },
              { label: "formnet IP", value: <Mono>{n.formnetIp ?? "—"}</Mono> },
              { label: "Last heartbeat", value: formatAgo(n.lastHeartbeatAt, now) },
              { label: "Connected", value: n.connected ? "yes" : "no" },
              { label: "Agent", value: `${n.agentVersion} (protocol ${n.protocolVersion})` },
              { label: "Instances", value: String(n.instances) },
              ...(n.statusReason ? [{ label: "Status reason", value: n.statusReason }] : []),
            ]}
          />
        </Card>
        <Card title="Host metrics · last hour">
          <MetricCharts history={n.history} memoryMb={n.capacity.memoryMb} diskGb={n.capacity.diskGb} />
        </Card>
      </div>
    </>
  );
}

export default function NodePage() {
  const params = useParams<{ id: string }>();
  return (
    <SessionGate what="this node">
      <NodeDetail nodeId={params.id} />
    </SessionGate>
  );
}
