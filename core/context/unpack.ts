import { mkdir, mkdtemp, open, readdir, rename, rm, rmdir, stat, symlink, writeFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { createGunzip } from "node:zlib";
import tar from "tar-stream";
import { ContextError } from "./errors";
import { checkLinks } from "./link-check";

/**
 * Safe extraction of a build context received from someone else (console) or from the console (agent).
 * Everything is extracted into a fresh temporary directory beside `destDir` and renamed into place only
 * when the whole archive passed, so a rejected archive leaves nothing behind. Regular files and
 * directories are written with fixed modes; symlinks are created last and only if they stay inside
 * the tree without passing through another symlink; anything else is refused.
 */

export type TUnpackLimits = {
  /** Cap on decompressed tar bytes (headers included). */
  maxBytes: number;
  /** Cap on entries of any kind. */
  maxFiles: number;
  /** Cap on decompressed / compressed size, enforced once output passes `ratioMinBytes`. */
  maxRatio: number;
  ratioMinBytes: number;
};

export const DEFAULT_UNPACK_LIMITS: TUnpackLimits = {
  maxBytes: 512 * 1024 * 1024,
  maxFiles: 20_000,
  maxRatio: 200,
  // Thousands of tiny files compress far beyond 200:1 legitimately; a bomb needs volume to hurt.
  ratioMinBytes: 16 * 1024 * 1024,
};

export type TUnpackResult = { files: number; directories: number; symlinks: number; bytes: number };

/** One archive entry as yielded by tar-stream's extractor (the type is not exported by name). */
type TSource = tar.Extract extends AsyncIterable<infer S> ? S : never;

type TState = {
  root: string;
  limits: TUnpackLimits;
  entries: number;
  result: TUnpackResult;
  paths: string[];
  links: Array<{ path: string; target: string }>;
  /** Directories known to exist, so each is created once. */
  dirs: Set<string>;
  inflight: Set<Promise<void>>;
  failure?: unknown;
};

/** Validates an archive entry name and returns its normalised relative path ("" for the root). */
function safeName(name: string): string {
  const unsafe = (why: string): ContextError =>
    new ContextError("UNSAFE_PATH", `archive entry "${name}" ${why}; refusing the whole archive`, {
      path: name,
    });
  if (name.includes("\0")) throw unsafe("contains a NUL byte");
  if (name.includes("\\")) throw unsafe("contains a backslash");
  if (name.startsWith("/") || /^[A-Za-z]:/.test(name)) throw unsafe("is an absolute path");
  const parts = name.split("/").filter((p) => p !== "" && p !== ".");
  if (parts.includes("..")) throw unsafe('contains ".."');
  return parts.join("/");
}

/** Files up to this size are buffered and written concurrently; larger ones are streamed. */
const SMALL_FILE = 1024 * 1024;
const MAX_INFLIGHT = 32;

async function ensureDir(state: TState, dir: string, path: string): Promise<void> {
  if (state.dirs.has(dir)) return;
  await mkdir(dir, { recursive: true }).catch((cause: unknown) => {
    throw new ContextError(
      "DUPLICATE_ENTRY",
      `archive entry ${path} needs a directory where a file already is`,
      {
        path,
        cause,
      },
    );
  });
  state.dirs.add(dir);
}

const duplicate = (path: string) => (cause: unknown) => {
  throw new ContextError("DUPLICATE_ENTRY", `archive entry ${path} appears twice`, { path, cause });
};

/** Tracks a background write; its failure is recorded and re-thrown by the extraction loop. */
function track(state: TState, write: Promise<void>): void {
  const tracked: Promise<void> = write.then(
    () => {
      state.inflight.delete(tracked);
    },
    (error: unknown) => {
      state.inflight.delete(tracked);
      state.failure ??= error;
    },
  );
  state.inflight.add(tracked);
}

async function writeFileEntry(state: TState, path: string, entry: TSource): Promise<void> {
  const abs = join(state.root, path);
  await ensureDir(state, dirname(abs), path);
  const mode = (entry.header.mode ?? 0o644) & 0o111 ? 0o755 : 0o644;
  state.result.files++;
  if ((entry.header.size ?? 0) <= SMALL_FILE) {
    const chunks: Uint8Array[] = [];
    for await (const chunk of entry) if (chunk instanceof Uint8Array) chunks.push(chunk);
    const body = Buffer.concat(chunks);
    state.result.bytes += body.length;
    // "wx": an existing path (duplicate entry) is an error, never overwritten.
    track(state, writeFile(abs, body, { flag: "wx", mode }).catch(duplicate(path)));
    if (state.inflight.size >= MAX_INFLIGHT) await Promise.race(state.inflight);
    return;
  }
  const handle = await open(abs, "wx", mode).catch(duplicate(path));
  try {
    for await (const chunk of entry) {
      if (chunk instanceof Uint8Array) {
        await handle.write(chunk);
        state.result.bytes += chunk.length;
      }
    }
  } finally {
    await handle.close();
  }
}

async function handleEntry(state: TState, entry: TSource): Promise<void> {
  const { header } = entry;
  const path = safeName(header.name);
  state.entries++;
  if (state.entries > state.limits.maxFiles) {
    throw new ContextError("TOO_MANY_FILES", `archive has more than ${state.limits.maxFiles} entries`);
  }
  if (path === "") {
    if (header.type !== "directory") {
      throw new ContextError(
        "UNSAFE_PATH",
        `archive entry "${header.name}" names the root but is a ${header.type}`,
      );
    }
    entry.resume();
    return;
  }
  state.paths.push(path);
  switch (header.type) {
    case "file":
    case "contiguous-file":
      return writeFileEntry(state, path, entry);
    case "directory":
      entry.resume();
      await ensureDir(state, join(state.root, path), path);
      state.result.directories++;
      return;
    case "symlink":
      entry.resume();
      state.links.push({ path, target: header.linkname ?? "" });
      return;
    case "link":
      throw new ContextError(
        "HARDLINK",
        `archive entry ${path} is a hard link, which build contexts may not contain`,
        { path },
      );
    default:
      throw new ContextError(
        "SPECIAL_FILE",
        `archive entry ${path} is a ${header.type}, which build contexts may not contain`,
        { path },
      );
  }
}

async function extractInto(state: TState, tarGz: Buffer): Promise<void> {
  const extract = tar.extract();
  const gunzip = createGunzip();
  let total = 0;
  const fail = (error: Error): void => {
    gunzip.destroy();
    extract.destroy(error);
  };
  gunzip.on("data", (chunk: Buffer) => {
    total += chunk.length;
    const { maxBytes, maxRatio, ratioMinBytes } = state.limits;
    if (total > maxBytes) {
      fail(new ContextError("TOO_LARGE", `archive expands beyond ${maxBytes} bytes`));
    } else if (total > ratioMinBytes && total > maxRatio * tarGz.length) {
      fail(
        new ContextError(
          "RATIO_EXCEEDED",
          `archive expands more than ${maxRatio}× its compressed size (archive bomb?)`,
        ),
      );
    } else if (!extract.write(chunk)) gunzip.pause();
  });
  extract.on("drain", () => gunzip.resume());
  // streamx's end() takes an optional final chunk; its typings make the parameter mandatory.
  gunzip.on("end", () => extract.end(undefined));
  gunzip.on("error", (cause) =>
    fail(new ContextError("CORRUPT_ARCHIVE", "the build context is not a valid gzip stream", { cause })),
  );
  gunzip.end(tarGz);
  try {
    for await (const entry of extract) {
      await handleEntry(state, entry);
      if (state.failure !== undefined) throw state.failure;
    }
    await Promise.all(state.inflight);
    if (state.failure !== undefined) throw state.failure;
  } catch (error) {
    // Let background writes settle before the caller deletes the temporary tree.
    await Promise.all(state.inflight);
    fail(error instanceof Error ? error : new Error(String(error)));
    if (error instanceof ContextError) throw error;
    throw new ContextError("CORRUPT_ARCHIVE", "the build context is not a valid tar archive", {
      cause: error,
    });
  }
  checkLinks({ paths: state.paths, links: state.links });
  for (const { path, target } of state.links) {
    await mkdir(dirname(join(state.root, path)), { recursive: true });
    await symlink(target, join(state.root, path)).catch((cause: unknown) => {
      throw new ContextError("DUPLICATE_ENTRY", `archive symlink ${path} collides with another entry`, {
        path,
        cause,
      });
    });
    state.result.symlinks++;
  }
}

/** Safely extracts a build-context tar.gz into `destDir` (absent or empty), all-or-nothing. */
export async function unpackContext(opts: {
  tarGz: Buffer;
  destDir: string;
  limits?: Partial<TUnpackLimits>;
}): Promise<TUnpackResult> {
  const existing = await stat(opts.destDir).catch(() => undefined);
  if (existing && (!existing.isDirectory() || (await readdir(opts.destDir)).length > 0)) {
    throw new ContextError("DEST_NOT_EMPTY", `${opts.destDir} already exists and is not an empty directory`, {
      path: opts.destDir,
    });
  }
  const parent = dirname(opts.destDir);
  await mkdir(parent, { recursive: true });
  const root = await mkdtemp(join(parent, `.${basename(opts.destDir)}.unpack-`));
  const state: TState = {
    root,
    limits: { ...DEFAULT_UNPACK_LIMITS, ...opts.limits },
    entries: 0,
    result: { files: 0, directories: 0, symlinks: 0, bytes: 0 },
    paths: [],
    links: [],
    dirs: new Set([root]),
    inflight: new Set(),
  };
  try {
    await extractInto(state, opts.tarGz);
    if (existing) await rmdir(opts.destDir);
    await rename(root, opts.destDir);
    return state.result;
  } catch (error) {
    await rm(root, { recursive: true, force: true });
    throw error;
  }
}
