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
  intervalMs: number;
  log: Logger;
  now?: () => Date;
};

export type TBlobGcResult = { deleted: string[]; freedBytes: number; tempFiles: number };

/**
 * Deletes blobs nothing needs (issue #23): context and image blobs that no build and no instance
 * references and that were last uploaded more than `graceMs` ago, with their ownership rows (which
 * frees the uploaders' quota), and temp files of uploads abandoned that long ago. Deleting is
 * idempotent, so consoles sharing a data dir may all sweep it.
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
    const cutoff = this.#now().getTime() - this.#o.graceMs;
    const old = (await this.#o.blobs.list()).filter((b) => b.mtime.getTime() < cutoff);
    let tempFiles = 0;
    for (const t of old.filter((b) => b.digest === null)) {
      await rm(t.file, { force: true });
      tempFiles++;
    }
    const candidates = old.flatMap((b) => (b.digest === null ? [] : [{ digest: b.digest, size: b.size }]));
    const referenced = await this.#o.references.referenced(candidates.map((c) => c.digest));
    const garbage = candidates.filter((c) => !referenced.has(c.digest));
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
