"use client";
import type { inferRouterOutputs } from "@trpc/server";
import Link from "next/link";
import type { AppRouter } from "@/server/api/root";
import { Mono } from "../../_components/ui";
import { formatAgo, shortId } from "../../_lib/format";
import { CommitmentBadge } from "./build-commitment";

type TDeploymentRow = inferRouterOutputs<AppRouter>["instances"]["deployments"][number];

/**
 * The caller's deployments (one per NAME): desired vs placed vs running replicas and why the rest
 * wait, the build it runs, and that build's image digest ⇄ on-chain commitment.
 */
export function DeploymentsTable({ deployments }: { deployments: TDeploymentRow[] }) {
  return (
    <div className="overflow-x-auto rounded-lg border border-slate-200 dark:border-slate-800">
      <table className="w-full min-w-[44rem] text-left text-sm" data-testid="deployments-table">
        <thead className="bg-slate-50 text-xs uppercase tracking-wide text-slate-500 dark:bg-slate-900">
          <tr>
            <th className="px-4 py-2 font-medium">Name</th>
            <th className="px-4 py-2 font-medium">Replicas</th>
            <th className="px-4 py-2 font-medium">Build</th>
            <th className="px-4 py-2 font-medium">Image digest</th>
            <th className="px-4 py-2 font-medium">Commitment</th>
            <th className="px-4 py-2 text-right font-medium">Updated</th>
          </tr>
        </thead>
        <tbody className="divide-y divide-slate-200 dark:divide-slate-800">
          {deployments.map((d) => (
            <tr key={d.deploymentId} data-testid="deployment-row">
              <td className="px-4 py-2.5 font-medium">
                <Link
                  href={`/deployments/${d.deploymentId}`}
                  className="text-sky-700 hover:underline dark:text-sky-400"
                >
                  {d.name}
                </Link>
              </td>
              <td className="px-4 py-2.5">
                <span className="whitespace-nowrap">
                  {d.waiting > 0
                    ? `${d.placed} of ${d.replicas} placed`
                    : `${d.running} of ${d.replicas} running`}
                </span>
                {d.waitingReason ? (
                  <span className="block max-w-xs text-xs text-amber-800 dark:text-amber-300">
                    {d.waitingReason}
                  </span>
                ) : null}
              </td>
              <td className="px-4 py-2.5">
                <Link href={`/builds/${d.buildId}`} className="hover:underline">
                  <Mono title={d.buildId}>{shortId(d.buildId)}</Mono>
                </Link>
              </td>
              <td className="px-4 py-2.5">
                <Mono title={d.imageDigest ?? ""}>{d.imageDigest ? shortId(d.imageDigest, 16) : "—"}</Mono>
              </td>
              <td className="px-4 py-2.5">
                <CommitmentBadge commitment={d.commitment} />
                {d.commitment.txHash ? (
                  <Mono title={d.commitment.txHash}>
                    {" "}
                    {shortId(d.commitment.txHash, 10)}
                    {d.commitment.blockNumber === null ? "" : ` · block ${d.commitment.blockNumber}`}
                  </Mono>
                ) : null}
              </td>
              <td className="px-4 py-2.5 text-right text-slate-500">{formatAgo(d.updatedAt)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
