import { existsSync } from "node:fs";
import { readdir, readlink, realpath, rm, stat } from "node:fs/promises";
import { join, resolve, sep } from "node:path";
import { z } from "zod";
import { ZDigest } from "@/lib/protocol";
import { BLOB_FILE_NAME } from "../config/paths";
import { freedBytes, groupByDigest, selectImageGarbage, type TImageFile, type TInUse } from "./gc-select";
import { readImageHeader, readJsonFile } from "./layers";

/** Default of `images.keepRecent` in the agent config: enough for a rollback or two per project. */
export const DEFAULT_KEEP_RECENT_IMAGES = 5;
/** Builds and downloads in flight (or just finished, not yet booted) are never collected. */
export const DEFAULT_GC_MIN_AGE_MS = 30 * 60_000;

const PARTIAL_NAME = /^sha256-[0-9a-f]{64}\.img\.part$/;

export type TImageGcOptions = {
  /** The agent's image store (`<dataDir>/images`, `sha256-<hex>.img`). */
  storeDir: string;
  /** The builder cache root (`<cacheDir>/images/<key>/{image.qcow2,meta.json}`); shared by builders on the host. */
  cacheDir: string;
  /** Images this node's VMs are backed by, whatever their status. */
  vmImagePaths: readonly string[];
  keepRecent?: number;
  minAgeMs?: number;
  nowMs?: number;
};

export type TImageGcResult = {
  deleted: { digest: string | null; paths: string[] }[];
  kept: number;
  freedBytes: number;
};

/**
 * Image GC: deletes images no VM on this node uses (running or stopped), no process has open
 * (VMs of other agents sharing the builder cache), not among the `keepRecent` most recently used
 * and not used in the last `minAgeMs`. The builder-cache entry and the store file of one digest
 * go together.
 */
export async function collectImageGarbage(opts: TImageGcOptions): Promise<TImageGcResult> {
  const cacheImages = join(opts.cacheDir, "images");
  const groups = groupByDigest([...(await scanStore(opts.storeDir)), ...(await scanCache(cacheImages))]);
  const inUse = await inUseSet({ vmImagePaths: opts.vmImagePaths, roots: [opts.storeDir, cacheImages] });
  const garbage = selectImageGarbage({
    groups,
    inUse,
    policy: {
      keepRecent: opts.keepRecent ?? DEFAULT_KEEP_RECENT_IMAGES,
      minAgeMs: opts.minAgeMs ?? DEFAULT_GC_MIN_AGE_MS,
      nowMs: opts.nowMs ?? Date.now(),
    },
  });
  for (const g of garbage) {
    for (const p of g.removePaths) await rm(p, { recursive: true, force: true });
  }
  // Bytes kept by downloads cut off long ago (a resume would have picked them up by now).
  const nowMs = opts.nowMs ?? Date.now();
  for (const name of await readdir(opts.storeDir).catch(() => [] as string[])) {
    if (!PARTIAL_NAME.test(name)) continue;
    const path = join(opts.storeDir, name);
    const st = await stat(path).catch(() => null);
    if (st && nowMs - st.mtimeMs >= (opts.minAgeMs ?? DEFAULT_GC_MIN_AGE_MS) && !inUse.paths.has(path))
      await rm(path, { force: true });
  }
  return {
    deleted: garbage.map((g) => ({ digest: g.digest, paths: g.removePaths })),
    kept: groups.length - garbage.length,
    freedBytes: freedBytes(garbage),
  };
}

type TEntry = {
  digest: string | null;
  file: TImageFile;
  removePath: string;
  usedAtMs: number;
  baseDigest: string | null;
};

async function fileOf(path: string): Promise<{ file: TImageFile; changedMs: number } | null> {
  const st = await stat(path).catch(() => null);
  if (!st?.isFile()) return null;
  // ctime moves on every new hard link, so it also records "linked into a store".
  return {
    file: { path, inode: `${st.dev}:${st.ino}`, bytes: st.blocks * 512 },
    changedMs: Math.max(st.mtimeMs, st.ctimeMs),
  };
}

async function scanStore(storeDir: string): Promise<TEntry[]> {
  const entries: TEntry[] = [];
  for (const name of await readdir(storeDir).catch(() => [] as string[])) {
    const m = BLOB_FILE_NAME.exec(name);
    if (!m) continue;
    const path = join(storeDir, name);
    const f = await fileOf(path);
    if (!f) continue;
    // A store file that is not a bootable image names no base (and goes like any unused image).
    const baseDigest = (await readImageHeader(path).catch(() => null))?.baseDigest ?? null;
    entries.push({
      digest: `sha256:${m[1]}`,
      file: f.file,
      removePath: path,
      usedAtMs: f.changedMs,
      baseDigest,
    });
  }
  return entries;
}

async function scanCache(cacheImages: string): Promise<TEntry[]> {
  const entries: TEntry[] = [];
  for (const key of await readdir(cacheImages).catch(() => [] as string[])) {
    const dir = join(cacheImages, key);
    const dirStat = await stat(dir).catch(() => null);
    if (!dirStat?.isDirectory()) continue;
    const image = join(dir, "image.qcow2");
    const metaPath = join(dir, "meta.json");
    const metaStat = await stat(metaPath).catch(() => null);
    const { digest, baseDigest } = metaStat ? await readMeta(metaPath) : { digest: null, baseDigest: null };
    const f = await fileOf(image);
    const usedAtMs = Math.max(dirStat.mtimeMs, metaStat?.mtimeMs ?? 0, f?.changedMs ?? 0);
    const file = f?.file ?? { path: image, inode: `missing:${dir}`, bytes: 0 };
    entries.push({ digest, file, removePath: dir, usedAtMs, baseDigest });
  }
  return entries;
}

const ZCacheMeta = z.object({
  digest: ZDigest,
  base: z.object({ digest: ZDigest }).optional(),
});

async function readMeta(metaPath: string): Promise<{ digest: string | null; baseDigest: string | null }> {
  // A meta.json cut short by a crash reads as null: an incomplete entry.
  const meta = ZCacheMeta.safeParse(await readJsonFile(metaPath));
  if (!meta.success) return { digest: null, baseDigest: null };
  return { digest: meta.data.digest, baseDigest: meta.data.base?.digest ?? null };
}

/**
 * In use: the VMs' image paths (and their inodes), plus every image file some process holds open
 * — a running QEMU keeps its backing file open, including VMs of other agents or tests that share
 * the builder cache.
 */
async function inUseSet(opts: { vmImagePaths: readonly string[]; roots: string[] }): Promise<TInUse> {
  const paths = new Set<string>();
  const inodes = new Set<string>();
  const add = async (p: string) => {
    paths.add(resolve(p));
    const real = await realpath(p).catch(() => null);
    if (real) paths.add(real);
    const st = await stat(p).catch(() => null);
    if (st) inodes.add(`${st.dev}:${st.ino}`);
  };
  for (const p of opts.vmImagePaths) await add(p);
  const roots = opts.roots.map((r) => resolve(r) + sep);
  for (const target of await openFiles()) {
    if (roots.some((r) => target.startsWith(r))) await add(target);
  }
  return { paths, inodes };
}

/** Targets of every open file descriptor on the host (root sees all processes). */
async function openFiles(): Promise<string[]> {
  const out: string[] = [];
  if (!existsSync("/proc/self/fd")) return out;
  for (const pid of await readdir("/proc").catch(() => [] as string[])) {
    if (!/^\d+$/.test(pid)) continue;
    const fdDir = join("/proc", pid, "fd");
    for (const fd of await readdir(fdDir).catch(() => [] as string[])) {
      const target = await readlink(join(fdDir, fd)).catch(() => null);
      if (target?.startsWith("/") && !target.endsWith(" (deleted)")) out.push(target);
    }
  }
  return out;
}
