import { createHash } from "node:crypto";
import { open } from "node:fs/promises";
import { pieceCount } from "@/lib/protocol/blobs";

/** SHA-256 (hex) of one piece's bytes. */
export function pieceHash(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/**
 * The SHA-256 of each `pieceBytes` piece of the first `sizeBytes` of a file (the last piece may be
 * short). A file shorter than `sizeBytes` reads as zeros past its end: a sparse partial download
 * whose holes then simply fail their piece's check.
 */
export async function hashPieces(
  path: string,
  opts: { sizeBytes: number; pieceBytes: number },
): Promise<string[]> {
  const handle = await open(path, "r");
  try {
    const out: string[] = [];
    const buffer = Buffer.alloc(opts.pieceBytes);
    for (let i = 0; i < pieceCount(opts.sizeBytes, opts.pieceBytes); i++) {
      const start = i * opts.pieceBytes;
      const length = Math.min(opts.pieceBytes, opts.sizeBytes - start);
      const piece = buffer.subarray(0, length);
      piece.fill(0);
      let read = 0;
      while (read < length) {
        const { bytesRead } = await handle.read(piece, read, length - read, start + read);
        if (bytesRead === 0) break;
        read += bytesRead;
      }
      out.push(pieceHash(piece));
    }
    return out;
  } finally {
    await handle.close();
  }
}
