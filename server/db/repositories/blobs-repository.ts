import { isActiveBuild, SHIPPABLE_BUILD_STATUSES, ZBuildStatus } from "@/lib/status";
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

/** A build being built (or of a status this console does not know, to be safe) keeps its blobs. */
function stillBuilding(status: string): boolean {
  const parsed = ZBuildStatus.safeParse(status);
  return !parsed.success || isActiveBuild(parsed.data);
}

/** What the blob GC must keep (its retention policy, docs/console.md "Retention"). */
export type TBlobRetention = {
  /** Digests some build (context or image) or some instance (image) names, retained or not. */
  referenced: Set<string>;
  /** Digests a retained build or a live instance names: the GC never deletes these. */
  retained: Set<string>;
};

/**
 * Which blobs builds and instances still need. A build is retained while it is being built, while
 * it is the build of a deployment that wants replicas, and while it is among the `keepBuilds`
 * newest shippable builds of its owner's NAME (what a rollback can go back to); an instance while
 * it is not deleted. Everything a retained build or a live instance names is retained, and the base
 * an image is a layer of with it.
 */
export function createBlobReferencesRepository(db: TDatabase) {
  /**
   * The ids of `builds` that are retained. `newestOf` caches the newest builds of each owner's NAME
   * for one sweep (a NAME's builds may span several chunks of digests).
   */
  async function retainedBuilds(
    builds: readonly { id: string; owner: string; name: string; status: string }[],
    opts: { keepBuilds: number; newestOf: Map<string, string[]> },
  ): Promise<Set<string>> {
    const kept = new Set(builds.filter((b) => stillBuilding(b.status)).map((b) => b.id));
    const deployed = await db.deployment.findMany({
      where: { buildId: { in: builds.map((b) => b.id) }, replicas: { gt: 0 } },
      select: { buildId: true },
    });
    for (const d of deployed) kept.add(d.buildId);
    for (const { owner, name } of builds) {
      const key = `${owner}\0${name}`;
      let newest = opts.newestOf.get(key);
      if (!newest) {
        const rows = await db.build.findMany({
          where: { owner, name, imageDigest: { not: null }, status: { in: [...SHIPPABLE_BUILD_STATUSES] } },
          orderBy: { createdAt: "desc" },
          take: opts.keepBuilds,
          select: { id: true },
        });
        newest = rows.map((r) => r.id);
        opts.newestOf.set(key, newest);
      }
      for (const id of newest) kept.add(id);
    }
    return kept;
  }

  return {
    async retention(digests: readonly string[], opts: { keepBuilds: number }): Promise<TBlobRetention> {
      const referenced = new Set<string>();
      const retained = new Set<string>();
      const liveImages = new Set<string>();
      const newestOf = new Map<string, string[]>();
      for (const part of chunks(digests)) {
        const builds = await db.build.findMany({
          where: {
            OR: [
              { contextDigest: { in: part } },
              { imageDigest: { in: part } },
              { baseDigest: { in: part } },
            ],
          },
          select: {
            id: true,
            owner: true,
            name: true,
            status: true,
            contextDigest: true,
            imageDigest: true,
            baseDigest: true,
          },
        });
        const kept = await retainedBuilds(builds, { keepBuilds: opts.keepBuilds, newestOf });
        for (const b of builds) {
          const named = [b.contextDigest, b.imageDigest, b.baseDigest].filter((d) => d !== null);
          for (const digest of named) {
            referenced.add(digest);
            if (kept.has(b.id)) retained.add(digest);
          }
        }
        const instances = await db.instance.findMany({
          where: { imageDigest: { in: part } },
          select: { imageDigest: true, status: true, desired: true },
        });
        for (const i of instances) {
          referenced.add(i.imageDigest);
          if (i.status !== "deleted" && i.desired !== "deleted") liveImages.add(i.imageDigest);
        }
      }
      // A live replica's image keeps its base too, even when no retained build names that base.
      for (const part of chunks([...liveImages])) {
        const bases = await db.build.findMany({
          where: { imageDigest: { in: part }, baseDigest: { not: null } },
          select: { baseDigest: true },
        });
        for (const b of bases) if (b.baseDigest) retained.add(b.baseDigest);
      }
      for (const digest of liveImages) retained.add(digest);
      return { referenced, retained };
    },
  };
}

export type TBlobReferencesRepository = ReturnType<typeof createBlobReferencesRepository>;
