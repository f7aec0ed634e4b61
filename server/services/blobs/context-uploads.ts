import { Readable } from "node:stream";
import type { TContextUploadsRepository } from "@/server/db/repositories/blobs-repository";
import { AppError, isAppError } from "@/server/errors";
import type { BlobStore } from "./blob-store";

export type TContextUploadsOptions = {
  repo: TContextUploadsRepository;
  blobs: BlobStore;
  /** Largest single context (FORMATION_MAX_CONTEXT_BYTES). */
  maxContextBytes: number;
  /** Bytes of contexts one account may hold (FORMATION_CONTEXT_QUOTA_BYTES). */
  quotaBytes: number;
  /** Grace period of unused uploads, named in the quota error (FORMATION_BLOB_GC_GRACE_MS). */
  gcGraceMs: number;
};

/**
 * Build contexts with owners (issue #23). Storing a context records who uploaded it; a build may
 * use a context only if its owner uploaded those bytes, so a digest seen in a log or a UI does not
 * let anyone else build with (and so read) that context. Uploading the same bytes is proof of
 * possession: that user gets an ownership row of their own. A user's rows count against a quota.
 */
export class ContextUploads {
  readonly #o: TContextUploadsOptions;

  constructor(options: TContextUploadsOptions) {
    this.#o = options;
  }

  /**
   * Streams an upload (PUT /api/contexts/<digest>) in under the size limit and the quota. An upload
   * over the quota is read to its end (up to the size limit) but stored no further than the quota,
   * so the client gets a readable 413 instead of a connection reset mid-body.
   */
  async putStream(opts: {
    owner: string;
    digest: string;
    stream: Readable;
  }): Promise<{ digest: string; size: number }> {
    const owner = opts.owner.toLowerCase();
    const room = await this.#room(owner, opts.digest);
    let over = false;
    const quota = Math.max(0, room.bytes);
    const limit = this.#o.maxContextBytes;
    // Over the quota: keep reading to the end (the size limit still cuts it off) but store nothing
    // more; the stored prefix then fails the digest check and is dropped with its temp file.
    async function* withinQuota(source: AsyncIterable<Buffer>) {
      let size = 0;
      for await (const chunk of source) {
        size += chunk.length;
        if (size > limit) throw new AppError("PAYLOAD_TOO_LARGE", `blob exceeds the limit of ${limit} bytes`);
        if (size > quota) over = true;
        if (!over) yield chunk;
      }
    }
    let stored: { digest: string; size: number };
    try {
      stored = await this.#o.blobs.putStream({
        stream: Readable.from(withinQuota(opts.stream)),
        expectedDigest: opts.digest,
        maxBytes: this.#o.maxContextBytes,
      });
    } catch (error) {
      if (over && !isAppError(error, "PAYLOAD_TOO_LARGE")) throw this.#quotaError(room.used, null);
      throw error;
    }
    await this.#o.repo.record({ digest: stored.digest, owner, sizeBytes: stored.size });
    return stored;
  }

  /** Stores a context sent inline with `builds.create` (already checked against the size limit). */
  async putBytes(opts: {
    owner: string;
    digest: string;
    bytes: Uint8Array;
  }): Promise<{ digest: string; size: number }> {
    const owner = opts.owner.toLowerCase();
    const room = await this.#room(owner, opts.digest);
    if (opts.bytes.byteLength > room.bytes) throw this.#quotaError(room.used, opts.bytes.byteLength);
    const stored = await this.#o.blobs.putBytes({ bytes: opts.bytes, expectedDigest: opts.digest });
    await this.#o.repo.record({ digest: stored.digest, owner, sizeBytes: stored.size });
    return stored;
  }

  /**
   * The size of a context `owner` uploaded and the store still has, or null — the same answer
   * whether the blob is missing or someone else's, so callers cannot probe for digests.
   */
  async ownedSize(opts: { owner: string; digest: string }): Promise<number | null> {
    const row = await this.#o.repo.find({ digest: opts.digest, owner: opts.owner.toLowerCase() });
    if (!row) return null;
    return this.#o.blobs.size(opts.digest);
  }

  /** Bytes the owner may still upload; re-uploading a context they hold costs nothing more. */
  async #room(owner: string, digest: string): Promise<{ used: number; bytes: number }> {
    const [used, held] = await Promise.all([
      this.#o.repo.usedBytes(owner),
      this.#o.repo.find({ digest, owner }),
    ]);
    return { used, bytes: this.#o.quotaBytes - used + (held?.sizeBytes ?? 0) };
  }

  #quotaError(used: number, size: number | null): AppError {
    const hours = Math.round((this.#o.gcGraceMs / 3600_000) * 10) / 10;
    const upload = size === null ? "this upload" : `this upload (${size} bytes)`;
    return new AppError(
      "PAYLOAD_TOO_LARGE",
      `context storage quota exceeded: your uploaded build contexts use ${used} of ${this.#o.quotaBytes} bytes ` +
        `and ${upload} does not fit. Contexts that no build uses are deleted ${hours} h after upload, ` +
        "which frees their space; shrink the context (add a .formignore, COPY less) or ask the console's " +
        "operator to raise FORMATION_CONTEXT_QUOTA_BYTES.",
      { details: { usedBytes: used, quotaBytes: this.#o.quotaBytes } },
    );
  }
}
