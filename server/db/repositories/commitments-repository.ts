import { z } from "zod";
import type { BuildCommitment, TDatabase } from "@/server/db/client";

/** pending (relay sent or queued) | confirmed (mined, or already on chain) | failed (reason). */
export const ZCommitmentStatus = z.enum(["pending", "confirmed", "failed"]);
export type TCommitmentStatus = z.infer<typeof ZCommitmentStatus>;

/** A build commitment as stored, its status parsed. */
export type TCommitmentRow = Omit<BuildCommitment, "status"> & { status: TCommitmentStatus };

function toRow(row: BuildCommitment): TCommitmentRow {
  return { ...row, status: ZCommitmentStatus.parse(row.status) };
}
const toRowOrNull = (row: BuildCommitment | null): TCommitmentRow | null => (row ? toRow(row) : null);

/** Build commitments relayed on ship (prisma/schema/chain.prisma). */
export function createCommitmentsRepository(db: TDatabase) {
  return {
    async insert(
      row: Omit<
        TCommitmentRow,
        "status" | "txHash" | "blockNumber" | "existing" | "reason" | "createdAt" | "updatedAt"
      >,
    ): Promise<TCommitmentRow> {
      return toRow(await db.buildCommitment.create({ data: { ...row, status: "pending" } }));
    },

    async update(
      id: string,
      data: Partial<Pick<TCommitmentRow, "txHash" | "blockNumber" | "existing" | "reason">> & {
        status?: TCommitmentStatus;
      },
    ): Promise<TCommitmentRow> {
      return toRow(await db.buildCommitment.update({ where: { id }, data }));
    },

    async find(id: string): Promise<TCommitmentRow | null> {
      return toRowOrNull(await db.buildCommitment.findUnique({ where: { id } }));
    },

    /** The newest commitment of `owner` for `buildId` (any deployment). */
    async latestForBuild(opts: { owner: string; buildId: string }): Promise<TCommitmentRow | null> {
      return toRowOrNull(
        await db.buildCommitment.findFirst({
          where: { owner: opts.owner, buildId: opts.buildId },
          orderBy: [{ createdAt: "desc" }, { id: "desc" }],
        }),
      );
    },

    /** The newest commitment of `owner` for each of `buildIds`, in one query (listings). */
    async latestForBuilds(opts: {
      owner: string;
      buildIds: readonly string[];
    }): Promise<Map<string, TCommitmentRow>> {
      const out = new Map<string, TCommitmentRow>();
      if (opts.buildIds.length === 0) return out;
      const rows = await db.buildCommitment.findMany({
        where: { owner: opts.owner, buildId: { in: [...new Set(opts.buildIds)] } },
        orderBy: [{ createdAt: "desc" }, { id: "desc" }],
      });
      for (const row of rows) if (!out.has(row.buildId)) out.set(row.buildId, toRow(row));
      return out;
    },

    /** The newest confirmed commitment with a transaction for the same build, digest and contract. */
    async confirmedTwin(opts: {
      owner: string;
      buildId: string;
      imageDigest: string;
      chainId: number;
      contract: string;
    }): Promise<TCommitmentRow | null> {
      return toRowOrNull(
        await db.buildCommitment.findFirst({
          where: { ...opts, status: "confirmed", txHash: { not: null } },
          orderBy: [{ createdAt: "desc" }, { id: "desc" }],
        }),
      );
    },

    /** Rows still pending (a console that stopped mid-relay resumes them). */
    async pending(limit = 100): Promise<TCommitmentRow[]> {
      const rows = await db.buildCommitment.findMany({
        where: { status: "pending" },
        orderBy: { createdAt: "asc" },
        take: limit,
      });
      return rows.map(toRow);
    },
  };
}

export type TCommitmentsRepository = ReturnType<typeof createCommitmentsRepository>;
