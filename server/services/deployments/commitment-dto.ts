import { z } from "zod";
import type { TCommitmentRow } from "@/server/db/repositories/commitments-repository";

/**
 * A deployment's build commitment as clients see it. `state`:
 * - `no-chain`: the console has no chain configured (nothing to commit to);
 * - `not-committed`: the build was shipped without a signed commitment (older client);
 * - `pending` / `confirmed` / `failed`: the relayed `commitBuildFor` (failed carries `reason`).
 */
export const ZCommitmentDto = z.object({
  state: z.enum(["no-chain", "not-committed", "pending", "confirmed", "failed"]),
  buildId: z.string(),
  imageDigest: z.string().nullable(),
  chainId: z.number().nullable(),
  contract: z.string().nullable(),
  txHash: z.string().nullable(),
  blockNumber: z.number().nullable(),
  /** This ship linked a commitment that was already on chain instead of sending a new one. */
  existing: z.boolean(),
  reason: z.string().nullable(),
  updatedAt: z.date().nullable(),
});
export type TCommitmentDto = z.infer<typeof ZCommitmentDto>;

/** The contract's answer for the commitment (null when no chain is configured). */
export const ZOnChainCheck = z.object({
  verified: z.boolean(),
  onChainDigest: z.string().nullable(),
  committedAt: z.number().nullable(),
  error: z.string().nullable(),
});

export function toCommitmentDto(opts: {
  row: TCommitmentRow | null;
  chain: { chainId: number; contract: string } | null;
  buildId: string;
  imageDigest: string | null;
}): TCommitmentDto {
  const { row, chain } = opts;
  if (row) {
    return {
      state: row.status,
      buildId: row.buildId,
      imageDigest: row.imageDigest,
      chainId: row.chainId,
      contract: row.contract,
      txHash: row.txHash,
      blockNumber: row.blockNumber,
      existing: row.existing,
      reason: row.reason,
      updatedAt: row.updatedAt,
    };
  }
  return {
    state: chain ? "not-committed" : "no-chain",
    buildId: opts.buildId,
    imageDigest: opts.imageDigest,
    chainId: chain?.chainId ?? null,
    contract: chain?.contract ?? null,
    txHash: null,
    blockNumber: null,
    existing: false,
    reason: null,
    updatedAt: null,
  };
}
