"use client";
import Link from "next/link";
import { Mono, StatusBadge } from "../../_components/ui";
import { formatAgo, shortId } from "../../_lib/format";

export type TInstanceRow = {
  instanceId: string;
  buildId: string;
  nodeId: string;
  status: string;
  formnetIp: string | null;
  reason: string | null;
  updatedAt: Date;
};

/** Replicas with their node, status and formnet IP. */
export function InstancesTable({ instances, showBuild }: { instances: TInstanceRow[]; showBuild?: boolean }) {
  return (
    <div className="overflow-x-auto rounded-lg border border-slate-200 dark:border-slate-800">
      <table className="w-full min-w-[36rem] text-sm" data-testid="instances-table">
        <thead className="bg-slate-50 text-left text-xs uppercase tracking-wide text-slate-500 dark:bg-slate-900">
          <tr>
            <th className="px-4 py-2 font-medium">Instance</th>
            <th className="px-4 py-2 font-medium">Status</th>
            <th className="px-4 py-2 font-medium">formnet IP</th>
            <th className="px-4 py-2 font-medium">Node</th>
            {showBuild ? <th className="px-4 py-2 font-medium">Build</th> : null}
            <th className="px-4 py-2 text-right font-medium">Updated</th>
          </tr>
        </thead>
        <tbody className="divide-y divide-slate-200 dark:divide-slate-800">
          {instances.map((i) => (
            <tr key={i.instanceId}>
              <td className="px-4 py-2.5">
                <Link
                  href={`/instances/${i.instanceId}`}
                  className="font-mono text-xs text-sky-700 hover:underline dark:text-sky-400"
                >
                  {i.instanceId}
                </Link>
              </td>
              <td className="px-4 py-2.5" title={i.reason ?? undefined}>
                <StatusBadge status={i.status} />
              </td>
              <td className="px-4 py-2.5">
                <Mono>{i.formnetIp ?? "—"}</Mono>
              </td>
              <td className="px-4 py-2.5">
                <Link href={`/nodes/${i.nodeId}`} className="hover:underline">
                  <Mono title={i.nodeId}>{shortId(i.nodeId)}</Mono>
                </Link>
              </td>
              {showBuild ? (
                <td className="px-4 py-2.5">
                  <Link href={`/builds/${i.buildId}`} className="hover:underline">
                    <Mono title={i.buildId}>{shortId(i.buildId)}</Mono>
                  </Link>
                </td>
              ) : null}
              <td className="px-4 py-2.5 text-right text-slate-500">{formatAgo(i.updatedAt)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
