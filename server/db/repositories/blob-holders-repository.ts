import { PEER_BLOBS_MIN_PROTOCOL, type TBlobPeer } from "@/lib/protocol";
import type { TDatabase } from "@/server/db/client";

/** Images over one base looked at when asking who holds the base (the newest ones). */
const MAX_IMAGES_PER_BASE = 200;

/**
 * Which online nodes likely hold a blob in their store (server/services/blobs/blob-sources.ts):
 * the node that built it (an image, or the base of one), nodes that host or hosted a replica of an
 * image (or of an image over a base) that is not deleted, and nodes whose prefetch of it finished.
 * A node's image GC may have removed it since; the node then answers 404 and the next source is
 * tried. Only agents that serve blobs (protocol ≥ 6) with a formnet address count.
 */
export function createBlobHoldersRepository(db: TDatabase) {
  return {
    async holdersOf(opts: { digest: string; exceptNodeId: string }): Promise<TBlobPeer[]> {
      const builds = await db.build.findMany({
        where: { OR: [{ imageDigest: opts.digest }, { baseDigest: opts.digest }] },
        select: { nodeId: true, imageDigest: true },
        orderBy: { createdAt: "desc" },
        take: MAX_IMAGES_PER_BASE,
      });
      const images = [
        ...new Set([opts.digest, ...builds.flatMap((b) => (b.imageDigest ? [b.imageDigest] : []))]),
      ];
      const [instances, prefetches] = await Promise.all([
        db.instance.findMany({
          where: { imageDigest: { in: images }, status: { notIn: ["deleted", "pending"] } },
          select: { nodeId: true },
          distinct: ["nodeId"],
        }),
        db.job.findMany({
          where: { kind: "prefetch", state: "done", OR: images.map((d) => ({ payload: { contains: d } })) },
          select: { nodeId: true },
          distinct: ["nodeId"],
        }),
      ]);
      const ids = new Set<string>();
      for (const row of [...builds, ...instances, ...prefetches]) if (row.nodeId) ids.add(row.nodeId);
      ids.delete(opts.exceptNodeId);
      if (ids.size === 0) return [];
      const nodes = await db.node.findMany({
        where: {
          id: { in: [...ids] },
          status: "online",
          protocolVersion: { gte: PEER_BLOBS_MIN_PROTOCOL },
          formnetIp: { not: null },
        },
        select: { id: true, formnetIp: true },
      });
      return nodes.flatMap((n) => (n.formnetIp ? [{ nodeId: n.id, formnetIp: n.formnetIp }] : []));
    },
  };
}

export type TBlobHoldersRepository = ReturnType<typeof createBlobHoldersRepository>;
