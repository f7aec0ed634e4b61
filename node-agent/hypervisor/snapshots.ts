import { createHash } from "node:crypto";
import { createReadStream, existsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rename, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import { writeFileAtomic } from "@/core/fs/atomic-write";
import type { Logger } from "@/core/log";
import { FormationError } from "@/lib/errors";

/**
 * Snapshots of pristine booted guests, one per image and VM shape on a node (issue #25). A snapshot
 * is QEMU's saved RAM and device state of a *template* VM of the image — booted with a throwaway
 * identity, no network and no user's data — paused once its boot finished, plus the template's disk
 * overlay at that instant. A new VM of the same image and shape restores from it instead of booting,
 * then receives its own identity over the identity channel (identity-hook.ts).
 *
 * Layout: `<dir>/<key>/{state.bin,disk.qcow2,meta.json}`; `meta.json` holds the SHA-256 of both
 * files, checked before every restore, so a corrupt snapshot is refused and removed.
 */

/** Bumped when the VM's devices or the snapshot layout change: older snapshots stop matching. */
export const SNAPSHOT_FORMAT = "1";

/** Everything a saved state depends on: a restore into any other shape is refused by its key. */
export const ZSnapshotShape = z.object({
  imagePath: z.string(),
  vcpu: z.number().int(),
  memoryMb: z.number().int(),
  diskGb: z.number().int(),
  accelerator: z.string(),
  kernel: z.string(),
  initrd: z.string(),
  qemu: z.string(),
});
export type TSnapshotShape = z.infer<typeof ZSnapshotShape>;

const ZFileSum = z.object({ bytes: z.number().int().min(0), sha256: z.string().regex(/^[0-9a-f]{64}$/) });

export const ZSnapshotMeta = z.object({
  format: z.literal(SNAPSHOT_FORMAT),
  key: z.string(),
  shape: ZSnapshotShape,
  createdAt: z.string(),
  state: ZFileSum,
  disk: ZFileSum,
});
export type TSnapshotMeta = z.infer<typeof ZSnapshotMeta>;

export type TSnapshot = {
  key: string;
  dir: string;
  statePath: string;
  diskPath: string;
  meta: TSnapshotMeta;
};

export class SnapshotError extends FormationError<"SNAPSHOT_CORRUPT"> {
  override readonly name = "SnapshotError";
}

export function snapshotKey(shape: TSnapshotShape): string {
  return createHash("sha256")
    .update(JSON.stringify({ format: SNAPSHOT_FORMAT, ...shape }))
    .digest("hex")
    .slice(0, 32);
}

export async function sha256OfFile(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

export class SnapshotStore {
  constructor(
    readonly dir: string,
    private readonly log: Logger,
  ) {}

  private paths(key: string) {
    const dir = join(this.dir, key);
    return {
      dir,
      statePath: join(dir, "state.bin"),
      diskPath: join(dir, "disk.qcow2"),
      metaPath: join(dir, "meta.json"),
    };
  }

  /** The snapshot for `shape`, if one is stored whose meta matches it and whose files are whole. */
  async find(shape: TSnapshotShape): Promise<TSnapshot | null> {
    const key = snapshotKey(shape);
    const p = this.paths(key);
    if (!existsSync(p.metaPath)) return null;
    const parsed = ZSnapshotMeta.safeParse(
      await readFile(p.metaPath, "utf8")
        .then((t) => JSON.parse(t) as unknown)
        .catch(() => null),
    );
    const problem = !parsed.success
      ? "unreadable meta.json"
      : JSON.stringify(parsed.data.shape) !== JSON.stringify(shape)
        ? "its shape differs from the VM's"
        : await this.sizeProblem(p, parsed.data);
    if (problem || !parsed.success) {
      await this.remove(key, problem ?? "unreadable meta.json");
      return null;
    }
    return { key, dir: p.dir, statePath: p.statePath, diskPath: p.diskPath, meta: parsed.data };
  }

  private async sizeProblem(
    p: ReturnType<SnapshotStore["paths"]>,
    meta: TSnapshotMeta,
  ): Promise<string | null> {
    const state = await stat(p.statePath).catch(() => null);
    const disk = await stat(p.diskPath).catch(() => null);
    if (state?.size !== meta.state.bytes) return "state.bin is missing or has the wrong size";
    if (disk?.size !== meta.disk.bytes) return "disk.qcow2 is missing or has the wrong size";
    return null;
  }

  /** Hashes both files against meta.json; throws SnapshotError (and removes it) when they differ. */
  async verify(snapshot: TSnapshot): Promise<void> {
    const [state, disk] = await Promise.all([
      sha256OfFile(snapshot.statePath),
      sha256OfFile(snapshot.diskPath),
    ]);
    const bad = [
      ...(state !== snapshot.meta.state.sha256 ? ["state.bin"] : []),
      ...(disk !== snapshot.meta.disk.sha256 ? ["disk.qcow2"] : []),
    ];
    if (bad.length === 0) return;
    const reason = `${bad.join(" and ")} do not match their SHA-256 in meta.json`;
    await this.remove(snapshot.key, reason);
    throw new SnapshotError("SNAPSHOT_CORRUPT", `snapshot ${snapshot.key} is corrupt: ${reason}`);
  }

  async remove(key: string, reason: string): Promise<void> {
    this.log.warn({ snapshot: key, reason }, "snapshot removed");
    await rm(this.paths(key).dir, { recursive: true, force: true });
  }

  /** A fresh work directory for a snapshot being made (same file system: `commit` renames it). */
  async workDir(): Promise<string> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    return mkdtemp(join(this.dir, ".work-"));
  }

  /** Hashes the work dir's `state.bin` and `disk.qcow2`, writes meta.json and makes it the snapshot. */
  async commit(workDir: string, shape: TSnapshotShape): Promise<TSnapshot> {
    const key = snapshotKey(shape);
    const p = this.paths(key);
    const sum = async (file: string) => ({
      bytes: (await stat(join(workDir, file))).size,
      sha256: await sha256OfFile(join(workDir, file)),
    });
    const meta: TSnapshotMeta = {
      format: SNAPSHOT_FORMAT,
      key,
      shape,
      createdAt: new Date().toISOString(),
      state: await sum("state.bin"),
      disk: await sum("disk.qcow2"),
    };
    await writeFileAtomic(join(workDir, "meta.json"), `${JSON.stringify(meta, null, 2)}\n`, { mode: 0o600 });
    await rm(p.dir, { recursive: true, force: true });
    await rename(workDir, p.dir);
    return { key, dir: p.dir, statePath: p.statePath, diskPath: p.diskPath, meta };
  }

  async list(): Promise<TSnapshotMeta[]> {
    const out: TSnapshotMeta[] = [];
    for (const name of await readdir(this.dir).catch(() => [] as string[])) {
      if (name.startsWith(".")) continue;
      const meta = ZSnapshotMeta.safeParse(
        await readFile(join(this.dir, name, "meta.json"), "utf8")
          .then((t) => JSON.parse(t) as unknown)
          .catch(() => null),
      );
      if (meta.success) out.push(meta.data);
    }
    return out;
  }

  /**
   * Removes snapshots whose image is gone (the image GC dropped it) and work directories a killed
   * agent left behind.
   */
  async prune(): Promise<string[]> {
    const removed: string[] = [];
    for (const name of await readdir(this.dir).catch(() => [] as string[])) {
      if (name.startsWith(".work-")) {
        await rm(join(this.dir, name), { recursive: true, force: true });
        removed.push(name);
      }
    }
    for (const meta of await this.list()) {
      if (existsSync(meta.shape.imagePath)) continue;
      await this.remove(meta.key, "its image is no longer in the store");
      removed.push(meta.key);
    }
    return removed;
  }
}
