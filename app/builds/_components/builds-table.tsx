"use client";
import Link from "next/link";
import { Mono, StatusBadge } from "../../_components/ui";
import { formatAgo, formatResources, shortId } from "../../_lib/format";

export type TBuildRow = {
  buildId: string;
  name: string;
  status: string;
  resources: { vcpu: number; memoryMb: number; diskGb: number };
  createdAt: Date;
  failure: { reason: string; line: number | null } | null;
};

/** Builds as a table on wide screens and as stacked cards on phones. */
export function BuildsTable({ builds }: { builds: TBuildRow[] }) {
  return (
    <div className="overflow-hidden rounded-lg border border-slate-200 dark:border-slate-800">
      <table className="w-full text-sm" data-testid="builds-table">
        <thead className="hidden bg-slate-50 text-left text-xs uppercase tracking-wide text-slate-500 sm:table-header-group dark:bg-slate-900">
          <tr>
            <th className="px-4 py-2 font-medium">Name</th>
            <th className="px-4 py-2 font-medium">Status</th>
            <th className="px-4 py-2 font-medium">Build id</th>
            <th className="px-4 py-2 font-medium">Resources</th>
            <th className="px-4 py-2 text-right font-medium">Created</th>
          </tr>
        </thead>
        <tbody className="divide-y divide-slate-200 dark:divide-slate-800">
          {builds.map((b) => (
            <tr
              key={b.buildId}
              className="flex flex-wrap items-center gap-x-3 gap-y-1 px-4 py-3 sm:table-row sm:p-0"
            >
              <td className="font-medium sm:px-4 sm:py-2.5">
                <Link
                  href={`/builds/${b.buildId}`}
                  className="text-sky-700 hover:underline dark:text-sky-400"
                >
                  {b.name}
                </Link>
              </td>
              <td className="sm:px-4 sm:py-2.5">
                <StatusBadge status={b.status} />
              </td>
              <td className="sm:px-4 sm:py-2.5">
                <Mono title={b.buildId}>{shortId(b.buildId)}</Mono>
              </td>
              <td className="w-full text-slate-600 sm:w-auto sm:px-4 sm:py-2.5 dark:text-slate-400">
                {formatResources(b.resources)}
              </td>
              <td className="text-slate-500 sm:px-4 sm:py-2.5 sm:text-right">{formatAgo(b.createdAt)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
