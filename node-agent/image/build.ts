import { createHash } from "node:crypto";
import { createReadStream, existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { TFormfile } from "@/lib/formfile/canonical";
import { canonicalJson } from "@/lib/formfile/canonical-json";
import { CommandAbortedError, run } from "../host/exec";
import { DEFAULT_CACHE_DIR, ensureBaseRootfs } from "./base";
import { digestDirectory } from "./context-digest";
import { ImageBuildError, stepError } from "./errors";
import { applyFormfile } from "./steps";

/** Bump when the way a Formfile is applied changes: it is part of every image's cache key. */
export const BUILDER_VERSION = "1";

export type TBuildImageOptions = {
  formfile: TFormfile;
  /** The unpacked build context. */
  contextDir: string;
  /** Used for log lines and work-directory names only; images are cached by content. */
  buildId: string;
  cacheDir?: string;
  /** Public key of the console's SSH user CA (web-terminal certificates). */
  sshCaPublicKey?: string;
  onLog: (line: string) => void;
  signal?: AbortSignal;
};

export type TBuildImageResult = {
  /** qcow2 image (virtual size = DISK), to be used as the backing file of per-VM overlays. */
  imagePath: string;
  /** `sha256:<hex>` of the image file. */
  digest: string;
  sizeBytes: number;
  fromCache: boolean;
};

type TMeta = { digest: string; sizeBytes: number; builtAt: string; key: string };

const inflight = new Map<string, Promise<TBuildImageResult>>();

/**
 * Builds a bootable disk image from a canonical Formfile without Docker: an overlayfs copy of the
 * cached Debian base, the Formfile applied in a namespaced chroot, `mkfs.ext4 -d` into a sparse raw
 * disk of DISK GB and `qemu-img convert` to qcow2. Same (base, Formfile, context, CA) → the cached
 * image is returned. Cancel with `signal`: child processes (apt, RUN steps) are killed.
 */
export async function buildImage(opts: TBuildImageOptions): Promise<TBuildImageResult> {
  const cacheDir = opts.cacheDir ?? DEFAULT_CACHE_DIR;
  const base = await ensureBaseRootfs({ cacheDir, onLog: opts.onLog, signal: opts.signal }).catch(
    (err: unknown) => {
      if (err instanceof CommandAbortedError)
        throw stepError(err, { what: "base image", line: null, command: "mmdebstrap" });
      throw new ImageBuildError({
        code: "BASE_FAILED",
        message: `building the Debian base image failed: ${String(err)}`,
        cause: err,
      });
    },
  );
  const contextDigest = await digestDirectory(opts.contextDir);
  const key = createHash("sha256")
    .update(
      canonicalJson({
        BUILDER_VERSION,
        base: base.hash,
        formfile: opts.formfile,
        contextDigest,
        ca: opts.sshCaPublicKey?.trim() ?? null,
      }),
    )
    .digest("hex")
    .slice(0, 32);
  const existing = inflight.get(key);
  if (existing !== undefined) return existing;
  const p = buildUncached({ ...opts, cacheDir, baseDir: base.dir, key }).finally(() => inflight.delete(key));
  inflight.set(key, p);
  return p;
}

async function buildUncached(
  opts: TBuildImageOptions & { cacheDir: string; baseDir: string; key: string },
): Promise<TBuildImageResult> {
  const outDir = join(opts.cacheDir, "images", opts.key);
  const imagePath = join(outDir, "image.qcow2");
  const metaPath = join(outDir, "meta.json");
  if (existsSync(metaPath) && existsSync(imagePath)) {
    const meta = JSON.parse(await readFile(metaPath, "utf8")) as TMeta;
    opts.onLog(`image cached: ${meta.digest}`);
    return { imagePath, digest: meta.digest, sizeBytes: meta.sizeBytes, fromCache: true };
  }
  const started = Date.now();
  await mkdir(join(opts.cacheDir, "work"), { recursive: true });
  const work = await mkdtemp(
    join(opts.cacheDir, "work", `${opts.buildId.replace(/[^A-Za-z0-9_-]/g, "").slice(0, 24)}-`),
  );
  const root = join(work, "root");
  let mounted = false;
  try {
    for (const d of ["upper", "ovl", "root"]) await mkdir(join(work, d));
    await run([
      "mount",
      "-t",
      "overlay",
      "overlay",
      "-o",
      `lowerdir=${opts.baseDir},upperdir=${join(work, "upper")},workdir=${join(work, "ovl")}`,
      root,
    ]);
    mounted = true;
    await applyFormfile({
      root,
      contextDir: opts.contextDir,
      debCacheDir: join(opts.cacheDir, "debs"),
      formfile: opts.formfile,
      sshCaPublicKey: opts.sshCaPublicKey,
      onLog: opts.onLog,
      signal: opts.signal,
    });
    const raw = join(work, "disk.raw");
    const diskGb = opts.formfile.resources.diskGb;
    opts.onLog(`image: mkfs.ext4 -d (${diskGb} GB virtual)`);
    await phase(["truncate", "-s", `${diskGb}G`, raw], opts.signal);
    await phase(["mkfs.ext4", "-q", "-F", "-L", "formation-root", "-d", root, raw], opts.signal);
    await phase(["umount", root], opts.signal);
    mounted = false;
    // Uncompressed qcow2: convert skips the zeros of the sparse raw file in well under a second,
    // while `-c` costs ~9 s per build for a 3x smaller file (see bench/results/vm.md).
    const tmpImage = join(work, "image.qcow2");
    await phase(["qemu-img", "convert", "-O", "qcow2", raw, tmpImage], opts.signal);
    const digest = await sha256File(tmpImage);
    const sizeBytes = (await stat(tmpImage)).size;
    await rm(outDir, { recursive: true, force: true });
    await mkdir(outDir, { recursive: true });
    await rename(tmpImage, imagePath);
    const meta: TMeta = { digest, sizeBytes, builtAt: new Date().toISOString(), key: opts.key };
    await writeFile(metaPath, `${JSON.stringify(meta, null, 2)}\n`);
    opts.onLog(
      `image ready in ${((Date.now() - started) / 1000).toFixed(1)} s: ${digest} (${(sizeBytes / 1e6).toFixed(0)} MB)`,
    );
    return { imagePath, digest, sizeBytes, fromCache: false };
  } finally {
    if (mounted) await unmountForce(root);
    await rm(work, { recursive: true, force: true });
  }
}

async function phase(argv: string[], signal?: AbortSignal): Promise<void> {
  try {
    await run(argv, { signal });
  } catch (err) {
    const e = stepError(err, { what: "image assembly", line: null, command: argv.join(" ") });
    if (e.code === "STEP_FAILED") {
      const hint = argv[0] === "mkfs.ext4" ? " (is DISK large enough for the installed files?)" : "";
      throw new ImageBuildError({
        code: "IMAGE_FAILED",
        message: `${e.message}${hint}`,
        command: e.command,
        exitCode: e.exitCode,
        cause: err,
      });
    }
    throw e;
  }
}

/** Unmounts the build overlay; falls back to a lazy unmount when something still holds it. */
async function unmountForce(path: string): Promise<void> {
  const r = await run(["umount", path], { allowFailure: true }).catch(() => null);
  if (r?.exitCode !== 0) await run(["umount", "-l", path], { allowFailure: true }).catch(() => null);
}

export async function sha256File(path: string): Promise<string> {
  const h = createHash("sha256");
  for await (const chunk of createReadStream(path, { highWaterMark: 4 << 20 })) h.update(chunk as Buffer);
  return `sha256:${h.digest("hex")}`;
}
