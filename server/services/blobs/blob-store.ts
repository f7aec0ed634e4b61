import { createHash, randomBytes } from "node:crypto";
import { createReadStream, createWriteStream, type ReadStream } from "node:fs";
import { mkdir, readdir, rename, rm, stat } from "node:fs/promises";
import path from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { ZDigest } from "@/lib/protocol";
import { AppError } from "@/server/errors";

/**
 * A write that failed because the data disk is full (or the console's quota on it is spent): a
 * RESOURCE_EXHAUSTED error that says so and what to do; null for any other error. Nothing of the
 * write stays behind (the temp file is removed), so the store is as it was.
 */
function diskFull(error: unknown, root: string): AppError | null {
  const code = error instanceof Error && "code" in error ? error.code : undefined;
  if (code !== "ENOSPC" && code !== "EDQUOT") return null;
  return new AppError(
    "RESOURCE_EXHAUSTED",
    `the console's disk is full (${root}): nothing was stored; free space on the console's data disk (or delete unused builds), then retry`,
    { cause: error },
  );
}

/**
 * Content-addressed blob storage under `${dataDir}/blobs/sha256/<2 hex>/<64 hex>` for build
 * contexts and disk images. Writes go to a temp file while hashing and are renamed into place only
 * when the digest (and size limit) check out, so a half-written blob is never visible.
 */
export class BlobStore {
  readonly root: string;

  constructor(options: { dataDir: string }) {
    this.root = path.join(path.resolve(options.dataDir), "blobs", "sha256");
  }

  pathOf(digest: string): string {
    const parsed = ZDigest.safeParse(digest);
    if (!parsed.success) throw new AppError("BAD_REQUEST", `not a sha256 digest: ${digest.slice(0, 80)}`);
    const hex = parsed.data.slice("sha256:".length);
    return path.join(this.root, hex.slice(0, 2), hex);
  }

  async size(digest: string): Promise<number | null> {
    try {
      return (await stat(this.pathOf(digest))).size;
    } catch {
      return null;
    }
  }

  /** Stores bytes already in memory (contexts from tRPC input). */
  async putBytes(opts: {
    bytes: Uint8Array;
    expectedDigest?: string;
  }): Promise<{ digest: string; size: number }> {
    const digest = `sha256:${createHash("sha256").update(opts.bytes).digest("hex")}`;
    if (opts.expectedDigest && opts.expectedDigest !== digest) {
      throw new AppError(
        "BAD_REQUEST",
        `content digest mismatch: expected ${opts.expectedDigest}, got ${digest}`,
      );
    }
    const { Readable } = await import("node:stream");
    return this.putStream({
      stream: Readable.from([Buffer.from(opts.bytes)]),
      expectedDigest: digest,
      maxBytes: Infinity,
    });
  }

  /** Streams a blob in, verifying size limit and (when given) digest before it becomes visible. */
  async putStream(opts: {
    stream: Readable;
    expectedDigest?: string;
    maxBytes: number;
  }): Promise<{ digest: string; size: number }> {
    await mkdir(this.root, { recursive: true });
    const tmp = path.join(this.root, `.tmp-${randomBytes(8).toString("hex")}`);
    const hash = createHash("sha256");
    let size = 0;
    try {
      await pipeline(
        opts.stream,
        async function* (source: AsyncIterable<Buffer>) {
          for await (const chunk of source) {
            size += chunk.length;
            if (size > opts.maxBytes) {
              throw new AppError("PAYLOAD_TOO_LARGE", `blob exceeds the limit of ${opts.maxBytes} bytes`);
            }
            hash.update(chunk);
            yield chunk;
          }
        },
        createWriteStream(tmp),
      );
      const digest = `sha256:${hash.digest("hex")}`;
      if (opts.expectedDigest && opts.expectedDigest !== digest) {
        throw new AppError(
          "BAD_REQUEST",
          `content digest mismatch: expected ${opts.expectedDigest}, got ${digest}`,
        );
      }
      const final = this.pathOf(digest);
      await mkdir(path.dirname(final), { recursive: true });
      await rename(tmp, final);
      return { digest, size };
    } catch (error) {
      throw diskFull(error, this.root) ?? error;
    } finally {
      await rm(tmp, { force: true });
    }
  }

  /**
   * Every stored blob with its size and modification time (the time of its latest upload: a
   * re-upload renames a fresh file into place), plus the temp files of uploads in progress or
   * abandoned (digest null), for the blob GC.
   */
  async list(): Promise<{ digest: string | null; file: string; size: number; mtime: Date }[]> {
    const out: { digest: string | null; file: string; size: number; mtime: Date }[] = [];
    const entries = await readdir(this.root, { withFileTypes: true }).catch(() => []);
    for (const entry of entries) {
      const file = path.join(this.root, entry.name);
      if (entry.isFile() && entry.name.startsWith(".tmp-")) {
        const s = await stat(file).catch(() => null);
        if (s) out.push({ digest: null, file, size: s.size, mtime: s.mtime });
        continue;
      }
      if (!entry.isDirectory() || !/^[0-9a-f]{2}$/.test(entry.name)) continue;
      for (const name of await readdir(file).catch(() => [])) {
        if (!/^[0-9a-f]{64}$/.test(name) || !name.startsWith(entry.name)) continue;
        const s = await stat(path.join(file, name)).catch(() => null);
        if (s?.isFile()) {
          out.push({ digest: `sha256:${name}`, file: path.join(file, name), size: s.size, mtime: s.mtime });
        }
      }
    }
    return out;
  }

  /** Deletes a stored blob (absent is fine). */
  async remove(digest: string): Promise<void> {
    await rm(this.pathOf(digest), { force: true });
  }

  /** Opens a stored blob for reading from byte `start` (default 0), or null when absent. */
  async open(
    digest: string,
    range: { start: number; end?: number } = { start: 0 },
  ): Promise<{ stream: ReadStream; size: number } | null> {
    const size = await this.size(digest);
    if (size === null) return null;
    return { stream: createReadStream(this.pathOf(digest), range), size };
  }
}
