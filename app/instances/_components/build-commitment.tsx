"use client";
import { useQuery } from "@tanstack/react-query";
import type { inferRouterOutputs } from "@trpc/server";
import type { AppRouter } from "@/server/api/root";
import { Badge, ErrorState, Fields, ListSkeleton, Mono, type TTone } from "../../_components/ui";
import { formatAgo, shortId } from "../../_lib/format";
import { useTRPC } from "../../_lib/trpc";

type TOutputs = inferRouterOutputs<AppRouter>;
export type TCommitment = TOutputs["instances"]["commitment"]["commitment"];
type TOnChain = TOutputs["instances"]["commitment"]["onChain"];

const STATE: Record<TCommitment["state"], { tone: TTone; label: string }> = {
  "no-chain": { tone: "gray", label: "no chain configured" },
  "not-committed": { tone: "amber", label: "not committed" },
  pending: { tone: "blue", label: "pending" },
  confirmed: { tone: "green", label: "confirmed" },
  failed: { tone: "red", label: "failed" },
};

/** The relay state of a commitment as a coloured word. */
export function CommitmentBadge({ commitment, testId }: { commitment: TCommitment; testId?: string }) {
  const s = STATE[commitment.state];
  return (
    <Badge tone={s.tone} {...(testId ? { testId } : {})}>
      {s.label}
    </Badge>
  );
}

function VerifiedBadge({ onChain, imageDigest }: { onChain: TOnChain; imageDigest: string | null }) {
  if (!onChain) return <Badge tone="gray">no chain configured</Badge>;
  if (onChain.error) return <Badge tone="amber">unknown: {onChain.error}</Badge>;
  if (onChain.verified) {
    return (
      <Badge tone="green" testId="commitment-verified">
        verified on chain
      </Badge>
    );
  }
  return (
    <span className="flex flex-wrap items-center gap-2">
      <Badge tone="red" testId="commitment-verified">
        not on chain
      </Badge>
      <span className="text-xs text-slate-600 dark:text-slate-400">
        {onChain.onChainDigest
          ? `the contract holds ${shortId(onChain.onChainDigest, 16)} for this build, not ${shortId(imageDigest ?? "", 16)}`
          : "the contract holds no commitment of this build by its owner"}
      </span>
    </span>
  );
}

/**
 * Image digest ⇄ on-chain commitment of an instance's build: the console's relay of the owner's
 * signed BuildCommitment (transaction, block, status) and the contract's stored commitment,
 * compared with the digest the instance runs.
 */
export function BuildCommitmentPanel({ instanceId }: { instanceId: string }) {
  const trpc = useTRPC();
  const q = useQuery(
    trpc.instances.commitment.queryOptions(
      { instanceId },
      { refetchInterval: (query) => (query.state.data?.commitment.state === "pending" ? 2000 : 15_000) },
    ),
  );
  if (q.isLoading) return <ListSkeleton rows={3} />;
  if (q.error || !q.data)
    return <ErrorState error={q.error ?? { message: "No data" }} what="the commitment" />;
  const { commitment: c, onChain } = q.data;
  if (c.state === "no-chain") {
    return (
      <p className="text-sm text-slate-600 dark:text-slate-400" data-testid="commitment-state">
        No chain configured: this console does not record build commitments.
      </p>
    );
  }
  return (
    <div data-testid="build-commitment">
      <Fields
        items={[
          {
            label: "Image digest",
            value: <Mono title={c.imageDigest ?? ""}>{shortId(c.imageDigest ?? "—", 24)}</Mono>,
          },
          {
            label: "Commitment",
            value: (
              <span className="flex flex-wrap items-center gap-2">
                <CommitmentBadge commitment={c} testId="commitment-state" />
                {c.existing ? <span className="text-xs">already on chain, linked</span> : null}
                {c.reason ? (
                  <span className="text-xs text-red-700 dark:text-red-400" data-testid="commitment-reason">
                    {c.reason}
                  </span>
                ) : null}
              </span>
            ),
          },
          {
            label: "Transaction",
            value: c.txHash ? (
              <Mono title={c.txHash}>
                <span data-testid="commitment-tx">{c.txHash}</span>
              </Mono>
            ) : (
              "—"
            ),
          },
          {
            label: "Block",
            value: c.blockNumber === null ? "—" : <span data-testid="commitment-block">{c.blockNumber}</span>,
          },
          {
            label: "Contract",
            value: c.contract ? (
              <Mono title={c.contract}>
                {c.contract} · chain {c.chainId}
              </Mono>
            ) : (
              "—"
            ),
          },
          { label: "On chain", value: <VerifiedBadge onChain={onChain} imageDigest={c.imageDigest} /> },
          ...(onChain?.committedAt
            ? [{ label: "Committed", value: formatAgo(new Date(onChain.committedAt * 1000)) }]
            : []),
        ]}
      />
      {c.state === "not-committed" ? (
        <p className="mt-3 text-sm text-slate-600 dark:text-slate-400">
          This build was shipped without the owner's signed commitment; ship it again from the build page to
          commit its image digest on chain.
        </p>
      ) : null}
    </div>
  );
}
