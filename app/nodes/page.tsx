"use client";
import { useQuery } from "@tanstack/react-query";
import Link from "next/link";
import { EmptyState, ErrorState, ListSkeleton, Mono, PageHeader } from "../_components/ui";
import { useSession } from "../_components/wallet-session";
import { formatAgo, shortAddress, shortId } from "../_lib/format";
import { useTRPC } from "../_lib/trpc";
import { useNow } from "../_lib/use-now";
import { CapacityBars } from "./_components/capacity-bars";
import { NodeHealthBadge } from "./_components/node-health";
import { PublicNodes } from "./_components/public-nodes";

function NodesList() {
  const trpc = useTRPC();
  const nodes = useQuery(trpc.nodes.list.queryOptions({}, { refetchInterval: 5000 }));
  const now = useNow(5000);
  if (nodes.isLoading) return <ListSkeleton rows={3} />;
  if (nodes.error) return <ErrorState error={nodes.error} what="the nodes" />;
  if (!nodes.data?.length) {
    return (
      <EmptyState title="No nodes have joined yet">
        Operators join with <code>node-agent init</code> then <code>node-agent run</code>; the node appears
        here after its first heartbeat.
      </EmptyState>
    );
  }
  const online = nodes.data.filter((n) => n.status === "online").length;
  return (
    <>
      {online === 0 ? (
        <div className="mb-4 rounded-lg border border-amber-200 bg-amber-50 px-4 py-3 text-sm text-amber-900 dark:border-amber-900 dark:bg-amber-950/40 dark:text-amber-200">
          No nodes are online — start a node agent with <code>node-agent run</code>. Builds wait in the queue
          until one connects.
        </div>
      ) : null}
      <ul className="grid grid-cols-1 gap-4 md:grid-cols-2" data-testid="nodes-list">
        {nodes.data.map((n) => (
          <li
            key={n.nodeId}
            data-testid="node-card"
            className="rounded-lg border border-slate-200 p-4 dark:border-slate-800 dark:bg-slate-900/40"
          >
            <div className="flex items-start justify-between gap-2">
              <div className="min-w-0">
                <Link
                  href={`/nodes/${n.nodeId}`}
                  className="font-medium text-sky-700 hover:underline dark:text-sky-400"
                >
                  <Mono title={n.nodeId}>{shortId(n.nodeId, 16)}</Mono>
                </Link>
                <p className="mt-0.5 text-xs text-slate-500">
                  {n.region} · {n.accel.toUpperCase()} · operator {shortAddress(n.operator)}
                </p>
              </div>
              <NodeHealthBadge
                status={n.status}
                healthy={n.healthy}
                connected={n.connected}
                reason={n.statusReason}
              />
            </div>
            <div className="mt-4 space-y-2">
              <CapacityBars allocated={n.allocated} capacity={n.capacity} />
            </div>
            <p className="mt-3 text-xs text-slate-500">
              {n.instances} instance{n.instances === 1 ? "" : "s"} · CPU{" "}
              {n.metrics ? `${n.metrics.cpuPct.toFixed(0)}%` : "—"} · heartbeat{" "}
              {formatAgo(n.lastHeartbeatAt, now)} · formnet {n.formnetIp ?? "—"}
            </p>
          </li>
        ))}
      </ul>
    </>
  );
}

/** Signed in: the operators' view (operators, formnet addresses, node pages); signed out: the public view. */
export default function NodesPage() {
  const session = useSession();
  return (
    <>
      <PageHeader
        title="Nodes"
        description="Operators' machines: capacity promised to instances, health and heartbeats."
      />
      {session.isLoading ? <ListSkeleton rows={3} /> : session.data ? <NodesList /> : <PublicNodes />}
    </>
  );
}
