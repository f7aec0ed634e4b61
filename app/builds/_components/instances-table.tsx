"use client";
import Link from "next/link";
import { CopyButton } from "../../_components/copy-button";
import { Mono, StatusBadge } from "../../_components/ui";
import { formatAgo, shortId } from "../../_lib/format";

export type TInstanceRow = {
  instanceId: string;
  buildId: string;
  nodeId: string;
  status: string;
  formnetIp: string | null;
  reason: string | null;
  app: { name: string };
  updatedAt: Date;
};

/** Replicas with their app, status, formnet IP and node; scrolls sideways on phones. */
export function InstancesTable({ instances, showBuild }: { instances: TInstanceRow[]; showBuild?: boolean }) {
  return (
    <div className="overflow-x-auto rounded-lg border border-slate-200 dark:border-slate-800">
      <table className="w-full min-w-[40rem] text-sm" data-testid="instances-table">
        <thead className="bg-slate-50 text-left text-xs uppercase tracking-wide text-slate-500 dark:bg-slate-900">
          <tr>
            <th className="px-4 py-2 font-medium">Name</th>
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
              <td className="px-4 py-2.5 font-medium">{i.app.name || "—"}</td>
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
              <td className="px-4 py-2.5 whitespace-nowrap">
                <Mono>{i.formnetIp ?? "—"}</Mono>
                {i.formnetIp ? (
                  <CopyButton value={i.formnetIp} label={`Copy formnet IP of ${i.instanceId}`} />
                ) : null}
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
