/**
 * Which images the image GC deletes: the pure rule, kept apart from the file-system scan so it
 * can be tested exhaustively.
 */

/** One file of an image: a built image in the builder cache or an image in the agent's store. */
export type TImageFile = {
  path: string;
  /** `<dev>:<ino>`: a store entry hard-linked from the cache is the same file under two names. */
  inode: string;
  /** Allocated bytes on disk. */
  bytes: number;
};

/** One image (all its files share the digest) or one incomplete builder-cache entry. */
export type TImageGroup = {
  /** `sha256:<hex>`, or null for a cache entry that never got its meta.json (crashed build). */
  digest: string | null;
  files: TImageFile[];
  /** What to remove: the store file itself, or the cache entry's directory. */
  removePaths: string[];
  /** Last time the image was built, fetched, linked or served from the cache (ms since epoch). */
  usedAtMs: number;
  /** The base this image is a layer of (from its header or meta.json); null when self-contained. */
  baseDigest?: string | null;
};

export type TInUse = {
  /** Image paths VMs on this node are backed by, and image files a process has open. */
  paths: ReadonlySet<string>;
  /** `<dev>:<ino>` of those, so a VM on the store name protects the cache name too. */
  inodes: ReadonlySet<string>;
};

export type TGcPolicy = {
  /** The N most recently used complete images are always kept. */
  keepRecent: number;
  /** Nothing used more recently than this is deleted (builds and downloads in flight). */
  minAgeMs: number;
  nowMs: number;
};

export function isInUse(group: TImageGroup, inUse: TInUse): boolean {
  return group.files.some((f) => inUse.paths.has(f.path) || inUse.inodes.has(f.inode));
}

/**
 * The groups to delete: not used by any VM (running or stopped) or open by any process, not among
 * the `keepRecent` most recently used complete images, not used within `minAgeMs`, and not the
 * base of an image that stays. Incomplete cache entries never count as recent; they go once they
 * are older than `minAgeMs`.
 */
export function selectImageGarbage(opts: {
  groups: readonly TImageGroup[];
  inUse: TInUse;
  policy: TGcPolicy;
}): TImageGroup[] {
  const { policy } = opts;
  const complete = opts.groups.filter((g) => g.digest !== null).sort((a, b) => b.usedAtMs - a.usedAtMs);
  const recent = new Set(complete.slice(0, Math.max(0, policy.keepRecent)));
  const garbage = opts.groups.filter(
    (g) => !recent.has(g) && !isInUse(g, opts.inUse) && policy.nowMs - g.usedAtMs >= policy.minAgeMs,
  );
  // A base stays while any image kept here is a layer over it.
  const doomed = new Set(garbage);
  const keptBases = new Set(
    opts.groups.filter((g) => !doomed.has(g) && g.baseDigest).map((g) => g.baseDigest),
  );
  return garbage.filter((g) => g.digest === null || !keptBases.has(g.digest));
}

/**
 * Files of the same digest are one image: the builder-cache copy and the store's hard link (or
 * downloaded copy) live and die together, so a store link cannot keep a "deleted" image on disk.
 */
export function groupByDigest(
  entries: readonly {
    digest: string | null;
    file: TImageFile;
    removePath: string;
    usedAtMs: number;
    baseDigest?: string | null;
  }[],
): TImageGroup[] {
  const byDigest = new Map<string, TImageGroup>();
  const groups: TImageGroup[] = [];
  for (const e of entries) {
    const existing = e.digest === null ? undefined : byDigest.get(e.digest);
    if (existing) {
      existing.files.push(e.file);
      existing.removePaths.push(e.removePath);
      existing.usedAtMs = Math.max(existing.usedAtMs, e.usedAtMs);
      existing.baseDigest = existing.baseDigest ?? e.baseDigest ?? null;
      continue;
    }
    const group: TImageGroup = {
      digest: e.digest,
      files: [e.file],
      removePaths: [e.removePath],
      usedAtMs: e.usedAtMs,
      baseDigest: e.baseDigest ?? null,
    };
    groups.push(group);
    if (e.digest !== null) byDigest.set(e.digest, group);
  }
  return groups;
}

/** Bytes a deletion frees: each inode once, however many names it had. */
export function freedBytes(groups: readonly TImageGroup[]): number {
  const seen = new Map<string, number>();
  for (const g of groups) for (const f of g.files) seen.set(f.inode, f.bytes);
  return [...seen.values()].reduce((a, b) => a + b, 0);
}
