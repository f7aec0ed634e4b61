"use client";
import { useQuery } from "@tanstack/react-query";
import Link from "next/link";
import { Mono } from "../../_components/ui";
import { formatAgo, shortId } from "../../_lib/format";
import { useTRPC } from "../../_lib/trpc";
import { CommitmentBadge } from "./build-commitment";

/** The caller's deployments (one per NAME): running build, its image digest and that digest's commitment. */
export function DeploymentsTable() {
  const trpc = useTRPC();
  const q = useQuery(trpc.instances.deployments.queryOptions(undefined, { refetchInterval: 5000 }));
  if (!q.data?.length) return null;
  return (
    <div className="overflow-x-auto">
      <table className="w-full text-left text-sm" data-testid="deployments-table">
        <thead className="text-xs text-slate-500 uppercase">
          <tr>
            <th className="py-2 pr-4">Name</th>
            <th className="py-2 pr-4">Build</th>
            <th className="py-2 pr-4">Replicas</th>
            <th className="py-2 pr-4">Image digest</th>
            <th className="py-2 pr-4">Commitment</th>
            <th className="py-2 pr-4">Transaction</th>
            <th className="py-2">Updated</th>
          </tr>
        </thead>
        <tbody>
          {q.data.map((d) => (
            <tr key={d.deploymentId} className="border-t border-slate-200 dark:border-slate-800">
              <td className="py-2 pr-4 font-medium">{d.name}</td>
              <td className="py-2 pr-4">
                <Link
                  href={`/builds/${d.buildId}`}
                  className="text-sky-700 hover:underline dark:text-sky-400"
                >
                  {shortId(d.buildId)}
                </Link>
              </td>
              <td className="py-2 pr-4">{d.replicas}</td>
              <td className="py-2 pr-4">
                <Mono title={d.imageDigest ?? ""}>{d.imageDigest ? shortId(d.imageDigest, 16) : "—"}</Mono>
              </td>
              <td className="py-2 pr-4">
                <CommitmentBadge commitment={d.commitment} />
              </td>
              <td className="py-2 pr-4">
                {d.commitment.txHash ? (
                  <Mono title={d.commitment.txHash}>
                    {shortId(d.commitment.txHash, 14)}
                    {d.commitment.blockNumber === null ? "" : ` · block ${d.commitment.blockNumber}`}
                  </Mono>
                ) : (
                  (d.commitment.reason ?? "—")
                )}
              </td>
              <td className="py-2">{formatAgo(d.updatedAt)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
