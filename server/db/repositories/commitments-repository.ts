import type { TDatabase } from "@/server/db/client";

export type TCommitmentStatus = "pending" | "confirmed" | "failed";

export type TCommitmentRow = {
  id: string;
  deploymentId: string;
  owner: string;
  buildId: string;
  imageDigest: string;
  chainId: number;
  contract: string;
  nonce: string;
  deadline: number;
  signature: string;
  status: string;
  txHash: string | null;
  blockNumber: number | null;
  existing: boolean;
  reason: string | null;
  createdAt: Date;
  updatedAt: Date;
};

/** Build commitments relayed on ship (prisma/schema/chain.prisma). */
export function createCommitmentsRepository(db: TDatabase) {
  return {
    insert(
      row: Omit<
        TCommitmentRow,
        "status" | "txHash" | "blockNumber" | "existing" | "reason" | "createdAt" | "updatedAt"
      >,
    ): Promise<TCommitmentRow> {
      return db.buildCommitment.create({ data: { ...row, status: "pending" } });
    },

    update(
      id: string,
      data: Partial<Pick<TCommitmentRow, "txHash" | "blockNumber" | "existing" | "reason">> & {
        status?: TCommitmentStatus;
      },
    ): Promise<TCommitmentRow> {
      return db.buildCommitment.update({ where: { id }, data });
    },

    find(id: string): Promise<TCommitmentRow | null> {
      return db.buildCommitment.findUnique({ where: { id } });
    },

    /** The newest commitment of `owner` for `buildId` (any deployment). */
    latestForBuild(opts: { owner: string; buildId: string }): Promise<TCommitmentRow | null> {
      return db.buildCommitment.findFirst({
        where: { owner: opts.owner, buildId: opts.buildId },
        orderBy: [{ createdAt: "desc" }, { id: "desc" }],
      });
    },

    /** The newest confirmed commitment with a transaction for the same build, digest and contract. */
    confirmedTwin(opts: {
      owner: string;
      buildId: string;
      imageDigest: string;
      chainId: number;
      contract: string;
    }): Promise<TCommitmentRow | null> {
      return db.buildCommitment.findFirst({
        where: { ...opts, status: "confirmed", txHash: { not: null } },
        orderBy: [{ createdAt: "desc" }, { id: "desc" }],
      });
    },

    /** Rows still pending (a console that stopped mid-relay resumes them). */
    pending(limit = 100): Promise<TCommitmentRow[]> {
      return db.buildCommitment.findMany({
        where: { status: "pending" },
        orderBy: { createdAt: "asc" },
        take: limit,
      });
    },
  };
}

export type TCommitmentsRepository = ReturnType<typeof createCommitmentsRepository>;
