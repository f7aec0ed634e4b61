import type { TDatabase } from "@/server/db/client";

export type TContextUploadRow = { digest: string; owner: string; sizeBytes: number; createdAt: Date };

/** Chunk size of `IN (…)` lists (SQLite allows 32,766 parameters; stay far below). */
const CHUNK = 500;

function chunks<T>(items: readonly T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += CHUNK) out.push(items.slice(i, i + CHUNK));
  return out;
}

/** Who uploaded which build context (ContextUpload in control-plane.prisma). */
export function createContextUploadsRepository(db: TDatabase) {
  return {
    async find(opts: { digest: string; owner: string }): Promise<TContextUploadRow | null> {
      const row = await db.contextUpload.findUnique({ where: { digest_owner: opts } });
      return row ? { ...row, sizeBytes: Number(row.sizeBytes) } : null;
    },

    /** Records (or refreshes) that `owner` uploaded the context `digest`. */
    async record(opts: { digest: string; owner: string; sizeBytes: number }): Promise<void> {
      const sizeBytes = BigInt(opts.sizeBytes);
      await db.contextUpload.upsert({
        where: { digest_owner: { digest: opts.digest, owner: opts.owner } },
        create: { digest: opts.digest, owner: opts.owner, sizeBytes },
        update: { sizeBytes },
      });
    },

    /** Bytes of context the owner holds (the sum of their rows), counted against their quota. */
    async usedBytes(owner: string): Promise<number> {
      const sum = await db.contextUpload.aggregate({ where: { owner }, _sum: { sizeBytes: true } });
      return Number(sum._sum.sizeBytes ?? 0n);
    },

    /** Drops every owner's row of these digests (their blobs were deleted). */
    async deleteDigests(digests: readonly string[]): Promise<void> {
      for (const part of chunks(digests)) {
        await db.contextUpload.deleteMany({ where: { digest: { in: part } } });
      }
    },
  };
}

export type TContextUploadsRepository = ReturnType<typeof createContextUploadsRepository>;

/** What the blob GC must keep: blobs a build or an instance still names. */
export function createBlobReferencesRepository(db: TDatabase) {
  return {
    /** The subset of `digests` that a build (context or image) or an instance (image) references. */
    async referenced(digests: readonly string[]): Promise<Set<string>> {
      const found = new Set<string>();
      for (const part of chunks(digests)) {
        const builds = await db.build.findMany({
          where: { OR: [{ contextDigest: { in: part } }, { imageDigest: { in: part } }] },
          select: { contextDigest: true, imageDigest: true },
        });
        for (const b of builds) {
          found.add(b.contextDigest);
          if (b.imageDigest) found.add(b.imageDigest);
        }
        const instances = await db.instance.findMany({
          where: { imageDigest: { in: part } },
          select: { imageDigest: true },
          distinct: ["imageDigest"],
        });
        for (const i of instances) found.add(i.imageDigest);
      }
      return found;
    },
  };
}

export type TBlobReferencesRepository = ReturnType<typeof createBlobReferencesRepository>;
