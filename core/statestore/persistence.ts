import type { FileHandle } from "node:fs/promises";
import { mkdir, open, readFile, rename, rm, truncate, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import { FormationError } from "../../lib/errors";
import { type TEnvelope, ZEnvelope } from "./envelope";

const LOG_FILE = "changes.log";
const SNAPSHOT_FILE = "snapshot.json";
const LOCK_FILE = "LOCK";

/** Thrown when another live process has the replica directory open. */
export class ReplicaDirLockedError extends FormationError<"locked"> {
  override readonly name = "ReplicaDirLockedError";
  constructor(dir: string, pid: number) {
    super(
      "locked",
      `replica directory ${dir} is in use by process ${pid}; stop it or use another directory`,
      {
        details: { dir, pid },
      },
    );
  }
}

// Two writers appending to one log would interleave histories; a pid lock file stops that, and a
// lock left by a crashed process (pid no longer alive) is taken over.
async function acquireLock(dir: string): Promise<void> {
  const path = join(dir, LOCK_FILE);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await writeFile(path, String(process.pid), { flag: "wx" });
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    }
    const pid = Number(await readFile(path, "utf8").catch(() => "0"));
    if (pid > 0 && pid !== process.pid && isAlive(pid)) throw new ReplicaDirLockedError(dir, pid);
    if (pid === process.pid) throw new ReplicaDirLockedError(dir, pid);
    await rm(path, { force: true });
  }
  throw new Error(`could not lock replica directory ${dir}`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

const ZSnapshot = z.object({
  v: z.literal(1),
  /** Bytes of the change log whose changes are already inside `docs`. */
  logBytes: z.number().int().nonnegative(),
  docs: z.record(z.string(), z.string()),
});

export type TLoadedLog = {
  /** Saved Automerge documents (base64-decoded) covering the log up to `snapshotLogBytes`. */
  snapshotDocs: Map<string, Uint8Array>;
  /** Every logged envelope, in log order, with whether the snapshot already contains it. */
  entries: { envelope: TEnvelope; inSnapshot: boolean }[];
  /** Lines that did not parse (corruption); skipped, reported by the store. */
  skippedLines: number;
};

/**
 * A replica's directory: `changes.log` is the append-only signed history (NDJSON envelopes, fsynced
 * per batch); `snapshot.json` holds every document saved as Automerge bytes plus the log length it
 * covers, so a restart loads documents directly and applies only the log's tail.
 */
export class ChangeLog {
  readonly #dir: string;
  readonly #handle: FileHandle;
  #size: number;

  private constructor(dir: string, handle: FileHandle, size: number) {
    this.#dir = dir;
    this.#handle = handle;
    this.#size = size;
  }

  static async open(dir: string): Promise<{ log: ChangeLog; loaded: TLoadedLog }> {
    await mkdir(dir, { recursive: true });
    await acquireLock(dir);
    const { loaded, completeBytes, fileBytes } = await loadDir(dir);
    // A crash mid-append leaves a torn last line; cut it so the next append starts clean.
    if (completeBytes < fileBytes) await truncate(join(dir, LOG_FILE), completeBytes);
    const handle = await open(join(dir, LOG_FILE), "a");
    return { log: new ChangeLog(dir, handle, completeBytes), loaded };
  }

  /** Appends accepted envelopes and waits until they are on disk. */
  async append(envelopes: readonly TEnvelope[]): Promise<void> {
    if (envelopes.length === 0) return;
    const text = envelopes.map((e) => `${JSON.stringify(e)}\n`).join("");
    await this.#handle.write(text);
    await this.#handle.datasync();
    this.#size += Buffer.byteLength(text);
  }

  /** Writes a snapshot of `docs` covering the whole log so far (atomic: temp file, fsync, rename). */
  async writeSnapshot(docs: ReadonlyMap<string, Uint8Array>): Promise<void> {
    const body: z.infer<typeof ZSnapshot> = { v: 1, logBytes: this.#size, docs: {} };
    for (const [key, bytes] of docs) body.docs[key] = Buffer.from(bytes).toString("base64");
    const tmp = join(this.#dir, `${SNAPSHOT_FILE}.tmp`);
    await writeFile(tmp, JSON.stringify(body));
    const fh = await open(tmp, "r+");
    await fh.sync();
    await fh.close();
    await rename(tmp, join(this.#dir, SNAPSHOT_FILE));
    const dirHandle = await open(this.#dir, "r");
    await dirHandle.sync().finally(() => dirHandle.close());
  }

  async close(): Promise<void> {
    await this.#handle.close();
    await rm(join(this.#dir, LOCK_FILE), { force: true });
  }
}

async function readSnapshot(path: string): Promise<z.infer<typeof ZSnapshot> | undefined> {
  const text = await readFile(path, "utf8").catch((error: NodeJS.ErrnoException) => {
    if (error.code === "ENOENT") return undefined;
    throw error;
  });
  if (text === undefined) return undefined;
  // A corrupt snapshot is not fatal: the log alone rebuilds everything.
  const parsed = ZSnapshot.safeParse(safeJson(text));
  return parsed.success ? parsed.data : undefined;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** Reads a replica directory without changing it (also used by `inspect` on a live replica). */
export async function readReplicaDir(dir: string): Promise<TLoadedLog> {
  return (await loadDir(dir)).loaded;
}

async function loadDir(
  dir: string,
): Promise<{ loaded: TLoadedLog; completeBytes: number; fileBytes: number }> {
  const raw = await readFile(join(dir, LOG_FILE)).catch((error: NodeJS.ErrnoException) => {
    if (error.code === "ENOENT") return Buffer.alloc(0);
    throw error;
  });
  const completeBytes = raw.lastIndexOf(0x0a) + 1;
  const snapshot = await readSnapshot(join(dir, SNAPSHOT_FILE));
  const loaded: TLoadedLog = { snapshotDocs: new Map(), entries: [], skippedLines: 0 };
  for (const [key, b64] of Object.entries(snapshot?.docs ?? {})) {
    loaded.snapshotDocs.set(key, new Uint8Array(Buffer.from(b64, "base64")));
  }
  let offset = 0;
  for (const line of raw.subarray(0, completeBytes).toString("utf8").split("\n")) {
    if (line.length === 0) continue;
    offset += Buffer.byteLength(line) + 1;
    const envelope = ZEnvelope.safeParse(safeJson(line));
    if (!envelope.success) {
      loaded.skippedLines += 1;
      continue;
    }
    loaded.entries.push({ envelope: envelope.data, inSnapshot: offset <= (snapshot?.logBytes ?? 0) });
  }
  return { loaded, completeBytes, fileBytes: raw.length };
}
