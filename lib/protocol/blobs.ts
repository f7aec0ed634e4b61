import { z } from "zod";
import { ZIpv4 } from "../formnet/schemas";
import { type TDigest, ZDigest, ZId } from "./common";

/**
 * Image transfer between nodes (protocol 6): a node fetches a blob in pieces from the formnet
 * members that hold it and falls back to the console. The console says who holds it and what each
 * piece's SHA-256 is (`GET /api/agent/sources/<digest>`); peers serve the bytes.
 */

/** TCP port a node serves the blobs of its store on, on its formnet address only. */
export const PEER_BLOB_PORT = 51890;

/** Bytes per piece: the unit fetched from one source and verified on receipt. */
export const PIECE_BYTES = 4 << 20;

/** A piece's SHA-256, bare lower-case hex. */
export const ZPieceHash = z.string().regex(/^[0-9a-f]{64}$/);

/** Number of pieces of a blob of `sizeBytes` (a last piece may be short). */
export function pieceCount(sizeBytes: number, pieceBytes: number): number {
  return Math.ceil(sizeBytes / pieceBytes);
}

/**
 * A `Range` header a blob server honours, against a blob of `size` bytes: `bytes=a-b` (inclusive,
 * `b` clamped to the end) or `bytes=a-`. Null when it is another form or not inside the blob.
 */
export function parseRange(header: string | undefined, size: number): { start: number; end: number } | null {
  const m = /^bytes=(\d+)-(\d*)$/.exec(header ?? "");
  if (!m) return null;
  const start = Number(m[1]);
  const end = m[2] ? Math.min(Number(m[2]), size - 1) : size - 1;
  if (!Number.isSafeInteger(start) || start >= size || end < start) return null;
  return { start, end };
}

export const ZBlobPeer = z.object({ nodeId: ZId, formnetIp: ZIpv4 });
export type TBlobPeer = z.infer<typeof ZBlobPeer>;

/** The console's answer for one blob: its size, its pieces' hashes and the nodes that hold it. */
export const ZBlobSources = z
  .object({
    digest: ZDigest,
    sizeBytes: z.number().int().min(0),
    pieceBytes: z
      .number()
      .int()
      .min(64 << 10)
      .max(64 << 20),
    pieces: z.array(ZPieceHash).max(1 << 16),
    /** Online nodes (protocol ≥ 6) that hold the blob, in the order to try them. */
    peers: z.array(ZBlobPeer).max(16),
  })
  .refine((s) => s.pieces.length === pieceCount(s.sizeBytes, s.pieceBytes), {
    message: "pieces must cover the blob: one hash per pieceBytes",
    path: ["pieces"],
  });
export type TBlobSources = z.infer<typeof ZBlobSources>;

/** Console-relative path of a blob's sources (agents, Bearer token). */
export function agentBlobSourcesPath(digest: TDigest): string {
  return `/api/agent/sources/${digest}`;
}

/** Path a node serves a blob of its store under (GET with `Range: bytes=a-b`, HEAD). */
export function peerBlobPath(digest: TDigest): string {
  return `/blobs/${digest}`;
}

/** URL of a blob on a peer node. */
export function peerBlobUrl(formnetIp: string, digest: TDigest): string {
  return `http://${formnetIp}:${PEER_BLOB_PORT}${peerBlobPath(digest)}`;
}
