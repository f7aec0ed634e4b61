"use client";
import { useQuery } from "@tanstack/react-query";
import { EmptyState, ErrorState, ListSkeleton, Mono } from "../../_components/ui";
import { formatAgo, shortId } from "../../_lib/format";
import { useTRPC } from "../../_lib/trpc";
import { useNow } from "../../_lib/use-now";
import { CapacityBars } from "./capacity-bars";
import { NodeHealthBadge } from "./node-health";

/**
 * The network's nodes for anyone, signed in or not (`nodes.publicList`): capacity, usage, health,
 * region and last heartbeat. Operators, formnet addresses and instances stay behind sign-in.
 */
export function PublicNodes() {
  const trpc = useTRPC();
  const nodes = useQuery(trpc.nodes.publicList.queryOptions(undefined, { refetchInterval: 5000 }));
  const now = useNow(5000);
  if (nodes.isLoading) return <ListSkeleton rows={3} />;
  if (nodes.error) return <ErrorState error={nodes.error} what="the network's nodes" />;
  if (!nodes.data?.length) {
    return (
      <EmptyState title="No nodes have joined the network yet">
        Run a node yourself: <code>node-agent init</code> then <code>node-agent run</code>; it appears here
        after its first heartbeat.
      </EmptyState>
    );
  }
  const online = nodes.data.filter((n) => n.status === "online").length;
  const free = nodes.data
    .filter((n) => n.status === "online")
    .reduce((sum, n) => sum + Math.max(0, n.capacity.vcpu - n.allocated.vcpu), 0);
  return (
    <>
      <p className="mb-4 text-sm text-slate-600 dark:text-slate-400" data-testid="public-nodes-summary">
        {online} of {nodes.data.length} node{nodes.data.length === 1 ? "" : "s"} online · {free} vCPU free.
        Sign in (top right) to see operators and node details.
      </p>
      <ul className="grid grid-cols-1 gap-4 md:grid-cols-2" data-testid="public-nodes-list">
        {nodes.data.map((n) => (
          <li
            key={n.nodeId}
            data-testid="public-node-card"
            className="rounded-lg border border-slate-200 p-4 dark:border-slate-800 dark:bg-slate-900/40"
          >
            <div className="flex items-start justify-between gap-2">
              <div className="min-w-0">
                <Mono title={n.nodeId}>{shortId(n.nodeId, 16)}</Mono>
                <p className="mt-0.5 text-xs text-slate-500">
                  {n.region} · {n.accel.toUpperCase()}
                </p>
              </div>
              <NodeHealthBadge status={n.status} healthy={n.healthy} connected={n.connected} reason={null} />
            </div>
            <div className="mt-4 space-y-2">
              <CapacityBars allocated={n.allocated} capacity={n.capacity} />
            </div>
            <p className="mt-3 text-xs text-slate-500">
              {n.instances} instance{n.instances === 1 ? "" : "s"} · CPU{" "}
              {n.metrics ? `${n.metrics.cpuPct.toFixed(0)}%` : "—"} · memory{" "}
              {n.metrics ? `${Math.round(n.metrics.memUsedMb)} MB used` : "—"} · heartbeat{" "}
              <span data-testid="public-node-heartbeat">{formatAgo(n.lastHeartbeatAt, now)}</span>
            </p>
          </li>
        ))}
      </ul>
    </>
  );
}
