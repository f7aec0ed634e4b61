import { mkdir, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import { ZJobResult, ZJobSpec } from "@/lib/protocol";

/**
 * Every job the agent accepts is written to `<data-dir>/jobs/` so that an agent restarted in the
 * middle of a job can tell the console about it in `hello`, and a result finished while the console
 * was unreachable is re-sent after the next `welcome`.
 */

/** A job as this agent keeps it on disk (the console's queue states are `ZJobState` in lib/status). */
export const ZLocalJobState = z.enum(["running", "completed", "failed", "cancelled", "interrupted"]);
export type TLocalJobState = z.infer<typeof ZLocalJobState>;

export const ZJobRecord = z.object({
  jobId: z.string(),
  spec: ZJobSpec,
  state: ZLocalJobState,
  phase: z.string().optional(),
  result: ZJobResult.optional(),
  failure: z.object({ reason: z.string(), line: z.number().int().min(1).optional() }).optional(),
  /** Whether the terminal outcome has been written to an open console connection. */
  reported: z.boolean(),
  acceptedAt: z.string(),
  updatedAt: z.string(),
});
export type TJobRecord = z.infer<typeof ZJobRecord>;

/** Terminal records are kept this long so a re-offered job id gets the same answer again. */
const RETENTION_MS = 7 * 24 * 3600 * 1000;

export class JobStore {
  readonly #dir: string;
  readonly #records = new Map<string, TJobRecord>();
  /** Writes of one record are chained so a slow earlier write never lands after a later one. */
  readonly #writes = new Map<string, Promise<void>>();
  #tempCounter = 0;

  constructor(dir: string) {
    this.#dir = dir;
  }

  /** Loads all records; returns the ids of files that could not be read (they are moved aside). */
  async load(now = Date.now()): Promise<{ corrupt: string[] }> {
    await mkdir(this.#dir, { recursive: true, mode: 0o700 });
    const corrupt: string[] = [];
    for (const name of await readdir(this.#dir)) {
      if (name.endsWith(".tmp")) {
        // Left by a crash between write and rename; the previous complete record is still there.
        await rm(join(this.#dir, name), { force: true });
        continue;
      }
      if (!name.endsWith(".json")) continue;
      const path = join(this.#dir, name);
      const parsed = ZJobRecord.safeParse(await readFile(path, "utf8").then(JSON.parse, () => null));
      if (!parsed.success) {
        corrupt.push(name);
        await rename(path, `${path}.corrupt`).catch(() => undefined);
        continue;
      }
      const record = parsed.data;
      const terminal = record.state !== "running";
      if (terminal && record.reported && now - Date.parse(record.updatedAt) > RETENTION_MS) {
        await rm(path, { force: true });
        continue;
      }
      this.#records.set(record.jobId, record);
    }
    return { corrupt };
  }

  get(jobId: string): TJobRecord | undefined {
    return this.#records.get(jobId);
  }

  all(): TJobRecord[] {
    return [...this.#records.values()];
  }

  /** Replace a record in memory at once and on disk in call order (atomic rename). */
  put(record: TJobRecord): Promise<void> {
    this.#records.set(record.jobId, record);
    const path = this.#pathOf(record.jobId);
    const write = async () => {
      this.#tempCounter += 1;
      const temp = `${path}.${process.pid}-${this.#tempCounter}.tmp`;
      await writeFile(temp, JSON.stringify(record), { mode: 0o600 });
      await rename(temp, path);
    };
    const previous = this.#writes.get(record.jobId) ?? Promise.resolve();
    const next = previous.then(write, write);
    this.#writes.set(record.jobId, next);
    void next
      .finally(() => {
        if (this.#writes.get(record.jobId) === next) this.#writes.delete(record.jobId);
      })
      .catch(() => undefined);
    return next;
  }

  /** Resolves once every write issued so far has reached the disk (used before exiting). */
  async flushed(): Promise<void> {
    await Promise.allSettled([...this.#writes.values()]);
  }

  // Job ids are validated by the protocol but may still contain "." sequences; base64url keeps
  // every id a single harmless file name.
  #pathOf(jobId: string): string {
    return join(this.#dir, `${Buffer.from(jobId).toString("base64url")}.json`);
  }
}
