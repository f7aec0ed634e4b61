import { randomInt } from "node:crypto";
import { hashPieces } from "@/core/blobs/pieces";
import { PIECE_BYTES, type TBlobPeer, type TBlobSources } from "@/lib/protocol";
import type { TBlobHoldersRepository } from "@/server/db/repositories/blob-holders-repository";
import type { BlobStore } from "./blob-store";

/** Blobs whose piece hashes are kept in memory (a base's take ~1 s of hashing to compute again). */
const CACHED_PIECE_LISTS = 64;
/** Peers named per answer: enough to spread pieces, few enough to try in a few seconds. */
const MAX_PEERS = 8;

/**
 * What a node needs to fetch a blob from its peers rather than from the console (protocol 6): the
 * SHA-256 of every piece of the console's copy, which every piece from a peer is checked against,
 * and the online nodes that hold the blob, shuffled so that fetches spread over them.
 */
export class BlobSources {
  readonly #blobs: BlobStore;
  readonly #holders: TBlobHoldersRepository;
  readonly #pieces = new Map<string, Promise<string[]>>();

  constructor(options: { blobs: BlobStore; holders: TBlobHoldersRepository }) {
    this.#blobs = options.blobs;
    this.#holders = options.holders;
  }

  /** Null when the console does not hold the blob. */
  async sourcesFor(opts: { digest: string; nodeId: string }): Promise<TBlobSources | null> {
    const sizeBytes = await this.#blobs.size(opts.digest);
    if (sizeBytes === null) return null;
    const [pieces, holders] = await Promise.all([
      this.#piecesOf(opts.digest, sizeBytes),
      this.#holders.holdersOf({ digest: opts.digest, exceptNodeId: opts.nodeId }),
    ]);
    return {
      digest: opts.digest,
      sizeBytes,
      pieceBytes: PIECE_BYTES,
      pieces,
      peers: shuffled(holders).slice(0, MAX_PEERS),
    };
  }

  #piecesOf(digest: string, sizeBytes: number): Promise<string[]> {
    const key = `${digest}:${sizeBytes}`;
    const cached = this.#pieces.get(key);
    if (cached !== undefined) return cached;
    const computed = hashPieces(this.#blobs.pathOf(digest), { sizeBytes, pieceBytes: PIECE_BYTES });
    computed.catch(() => this.#pieces.delete(key));
    this.#pieces.set(key, computed);
    for (const old of this.#pieces.keys()) {
      if (this.#pieces.size <= CACHED_PIECE_LISTS) break;
      this.#pieces.delete(old);
    }
    return computed;
  }
}

function shuffled(peers: readonly TBlobPeer[]): TBlobPeer[] {
  const out = [...peers];
  for (let i = out.length - 1; i > 0; i--) {
    const j = randomInt(i + 1);
    [out[i], out[j]] = [out[j] as TBlobPeer, out[i] as TBlobPeer];
  }
  return out;
}
