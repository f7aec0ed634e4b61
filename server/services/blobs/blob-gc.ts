import { rm } from "node:fs/promises";
import type { Logger } from "@/core/log";
import type {
  TBlobReferencesRepository,
  TContextUploadsRepository,
} from "@/server/db/repositories/blobs-repository";
import type { BlobStore } from "./blob-store";

export type TBlobGcOptions = {
  blobs: BlobStore;
  references: TBlobReferencesRepository;
  contexts: TContextUploadsRepository;
  /** A blob younger than this is kept even when unreferenced (an upload whose build is not created yet). */
  graceMs: number;
  /** Newest shippable builds of each owner's NAME whose blobs are kept (FORMATION_IMAGE_KEEP_BUILDS). */
  keepBuilds: number;
  intervalMs: number;
  log: Logger;
  now?: () => Date;
};

/**
 * A blob only builds past retention name is deleted once its latest upload is this old (or the
 * grace, if shorter): a build being finished or created may have just uploaded those same bytes
 * again (a builder cache hit makes the same image; a context can be sent twice).
 */
export const EXPIRED_UPLOAD_GUARD_MS = 15 * 60_000;

export type TBlobGcResult = { deleted: string[]; freedBytes: number; tempFiles: number };

/**
 * Deletes blobs nothing needs (issues #23, #21), with their ownership rows (which frees the
 * uploaders' quota):
 * - blobs no build and no instance names, last uploaded more than `graceMs` ago;
 * - blobs only builds past retention name (not being built, not deployed, not among the
 *   `keepBuilds` newest of their NAME) and no live instance, last uploaded more than
 *   EXPIRED_UPLOAD_GUARD_MS ago: the images of deleted deployments and old builds;
 * - temp files of uploads abandoned more than `graceMs` ago.
 * Deleting is idempotent, so consoles sharing a data dir may all sweep it.
 */
export class BlobGc {
  readonly #o: TBlobGcOptions;
  readonly #now: () => Date;
  #timer: NodeJS.Timeout | null = null;
  #run: Promise<unknown> = Promise.resolve();

  constructor(options: TBlobGcOptions) {
    this.#o = options;
    this.#now = options.now ?? (() => new Date());
  }

  start(): void {
    this.#timer = setInterval(() => {
      this.#run = this.sweep().catch((error: unknown) => this.#o.log.error({ err: error }, "blob GC failed"));
    }, this.#o.intervalMs);
    this.#timer.unref();
  }

  /** Stops the timer and waits for a sweep in flight. */
  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    await this.#run;
  }

  /** One sweep over the store. */
  async sweep(): Promise<TBlobGcResult> {
    const now = this.#now().getTime();
    const unreferencedCutoff = now - this.#o.graceMs;
    const expiredCutoff = now - Math.min(this.#o.graceMs, EXPIRED_UPLOAD_GUARD_MS);
    const stored = await this.#o.blobs.list();
    let tempFiles = 0;
    for (const t of stored.filter((b) => b.digest === null && b.mtime.getTime() < unreferencedCutoff)) {
      await rm(t.file, { force: true });
      tempFiles++;
    }
    const candidates = stored.flatMap((b) =>
      b.digest === null || b.mtime.getTime() >= expiredCutoff
        ? []
        : [{ digest: b.digest, size: b.size, mtimeMs: b.mtime.getTime() }],
    );
    const { referenced, retained } = await this.#o.references.retention(
      candidates.map((c) => c.digest),
      { keepBuilds: this.#o.keepBuilds },
    );
    const garbage = candidates.filter(
      (c) => !retained.has(c.digest) && (referenced.has(c.digest) || c.mtimeMs < unreferencedCutoff),
    );
    for (const g of garbage) await this.#o.blobs.remove(g.digest);
    // Rows after blobs: a crash in between leaves rows whose blob is gone, which builds treat as
    // "not uploaded"; the next upload of the bytes restores both.
    await this.#o.contexts.deleteDigests(garbage.map((g) => g.digest));
    const result = {
      deleted: garbage.map((g) => g.digest),
      freedBytes: garbage.reduce((sum, g) => sum + g.size, 0),
      tempFiles,
    };
    if (result.deleted.length > 0 || tempFiles > 0) {
      const { freedBytes } = result;
      this.#o.log.info(
        { blobs: result.deleted.length, freedBytes, tempFiles },
        "blob GC deleted unused blobs",
      );
    }
    return result;
  }
}
