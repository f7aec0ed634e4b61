import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, realpath, rename, rm, utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { TFormfile } from "@/lib/formfile/canonical";
import { canonicalJson } from "@/lib/formfile/canonical-json";
import { CommandAbortedError } from "../host/exec";
import { detectAccelerator, findGuestKernel, type TAccelerator } from "../host/preflight";
import { DEFAULT_CACHE_DIR, ensureBaseRootfs, type TBaseRootfs } from "./base";
import { BASE_IMAGE_GB, ensureBaseImage } from "./base-image";
import { buildEgressRules } from "./build-vm/egress-rules";
import { renderBuildJob } from "./build-vm/job";
import { DEFAULT_BUILD_LIMITS, runBuildVm, type TBuildLimits } from "./build-vm/run";
import { digestDirectory } from "./context-digest";
import { resolveCopySources } from "./copy-sources";
import { phase } from "./disk";
import { ImageBuildError, stepError } from "./errors";
import {
  blobFileName,
  createLayer,
  ensureBaseBlob,
  linkBaseBeside,
  sha256File,
  type TBaseBlob,
} from "./layers";
import { DEFAULT_WORKDIR, ENTRYPOINT_UNIT } from "./render";
import { WORK_OWNER_FILE } from "./stale-work";

/** Bump when the way a Formfile is applied changes: it is part of every image's cache key. */
export const BUILDER_VERSION = "6";

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
  /** The build VM's accelerator (the agent passes its preflight's); detected when absent. */
  accelerator?: TAccelerator;
  /** Per-build limits; defaults in DEFAULT_BUILD_LIMITS. */
  limits?: Partial<TBuildLimits>;
};

export type TBuildImageResult = {
  /**
   * qcow2 layer (virtual size = DISK) over `base`, to be used as the backing file of per-VM
   * overlays; the base is linked beside it under its blob name.
   */
  imagePath: string;
  base: TBaseBlob;
  /** `sha256:<hex>` of the image file. */
  digest: string;
  sizeBytes: number;
  fromCache: boolean;
};

type TMeta = {
  digest: string;
  sizeBytes: number;
  builtAt: string;
  key: string;
  /** The base the image is a layer of. */
  base: { digest: string; sizeBytes: number };
};

const inflight = new Map<string, Promise<TBuildImageResult>>();

/**
 * Builds a bootable disk image from a canonical Formfile without Docker: a sparse copy of the cached
 * base's ext4 image grown to DISK GB becomes the root disk of a disposable build VM that applies the
 * Formfile (no step of it runs on the host; see docs/node-agent-vm.md), then the disk is converted
 * to one self-contained qcow2. Same (base, Formfile, context, CA) → the cached
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
  const p = buildUncached({ ...opts, cacheDir, base, key }).finally(() => inflight.delete(key));
  inflight.set(key, p);
  return p;
}

async function buildUncached(
  opts: TBuildImageOptions & { cacheDir: string; base: TBaseRootfs; key: string },
): Promise<TBuildImageResult> {
  const outDir = join(opts.cacheDir, "images", opts.key);
  const imagePath = join(outDir, "image.qcow2");
  const metaPath = join(outDir, "meta.json");
  if (existsSync(metaPath) && existsSync(imagePath)) {
    const meta = JSON.parse(await readFile(metaPath, "utf8")) as TMeta;
    // The base went (a new base version): the layer is useless, build it again.
    const basePath = await realpath(join(outDir, blobFileName(meta.base.digest))).catch(() => null);
    if (basePath !== null) {
      // The image GC keeps recently *used* images: a cache hit counts as a use.
      const now = new Date();
      await utimes(metaPath, now, now).catch(() => undefined);
      opts.onLog(`image cached: ${meta.digest}`);
      const base = { path: basePath, ...meta.base };
      return { imagePath, digest: meta.digest, sizeBytes: meta.sizeBytes, fromCache: true, base };
    }
  }
  const started = Date.now();
  const baseImage = await ensureBaseImage({ base: opts.base, signal: opts.signal, onLog: opts.onLog }).catch(
    (err: unknown) => {
      throw stepError(err, { what: "base ext4 image", line: null, command: "mkfs.ext4 -d" });
    },
  );
  await mkdir(join(opts.cacheDir, "work"), { recursive: true });
  const work = await mkdtemp(
    join(opts.cacheDir, "work", `${opts.buildId.replace(/[^A-Za-z0-9_-]/g, "").slice(0, 24)}-`),
  );
  // Marks the directory as this process's, so a restarted agent (or another agent sharing the
  // cache) only cleans up directories whose builder died (node-agent/image/stale-work.ts).
  await writeFile(join(work, WORK_OWNER_FILE), `${process.pid}\n`);
  try {
    const base = await ensureBaseBlob({ baseImage, signal: opts.signal, onLog: opts.onLog }).catch(
      (err: unknown) => {
        throw stepError(err, { what: "base qcow2 blob", line: null, command: "qemu-img convert" });
      },
    );
    // The layer only grows the base's file system (resize2fs in the build VM, before any step).
    const diskGb = Math.max(opts.formfile.resources.diskGb, BASE_IMAGE_GB);
    opts.onLog(`image: layer over base ${base.digest}, ${diskGb} GB virtual`);
    const layer = await createLayer({ base, dir: work, name: "layer.qcow2", diskGb });
    const copySources = await resolveCopySources(opts.contextDir, opts.formfile);
    const job = renderBuildJob({
      formfile: opts.formfile,
      sshCaPublicKey: opts.sshCaPublicKey,
      copySources,
      growFs: diskGb > BASE_IMAGE_GB,
    });
    for (const u of opts.formfile.users) {
      opts.onLog(
        `USER ${u.username} (sudo=${u.sudo}, keys=${u.sshAuthorizedKeys.length}, groups=${u.groups.join(",") || "-"})`,
      );
    }
    const kernel = await findGuestKernel();
    if (kernel === null) {
      throw new ImageBuildError({
        code: "IMAGE_FAILED",
        message: "no guest kernel (/boot/vmlinuz-*-cloud-amd64) for the build VM: run scripts/setup-host.sh",
      });
    }
    const limits = { ...DEFAULT_BUILD_LIMITS, ...opts.limits };
    const accelerator = opts.accelerator ?? (await detectAccelerator()).accelerator;
    opts.onLog(
      `image: build VM (${accelerator}, ${limits.vcpus} vCPU, ${limits.memoryMb} MiB, limit ${Math.round(limits.timeoutMs / 1000)} s)`,
    );
    await runBuildVm({
      workDir: work,
      disk: layer,
      job,
      contextDir: opts.contextDir,
      kernel,
      cacheDir: opts.cacheDir,
      accelerator,
      limits,
      egress: await buildEgressRules(),
      onLog: opts.onLog,
      signal: opts.signal,
    });
    if (opts.formfile.entrypoint) {
      opts.onLog(
        `ENTRYPOINT ${JSON.stringify(opts.formfile.entrypoint)} → ${ENTRYPOINT_UNIT} (Restart=always, WorkingDirectory=${opts.formfile.workdir ?? DEFAULT_WORKDIR})`,
      );
    }
    // The layer as the build VM left it holds whole 64 KiB clusters for every 4 KiB it wrote;
    // rewritten compressed over the same base it is a third of that (zstd: 0.7 s for the README
    // example's layer, zlib 3.4 s).
    const tmpImage = join(work, "image.qcow2");
    opts.onLog("image: compress the layer");
    await phase(
      [
        "qemu-img",
        "convert",
        "-c",
        "-O",
        "qcow2",
        "-o",
        "compression_type=zstd",
        "-B",
        blobFileName(base.digest),
        "-F",
        "qcow2",
        layer,
        tmpImage,
      ],
      opts.signal,
    );
    await rm(layer, { force: true });
    opts.onLog("image: sha256");
    const { digest, sizeBytes } = await sha256File(tmpImage);
    await rm(outDir, { recursive: true, force: true });
    await mkdir(outDir, { recursive: true });
    await rename(tmpImage, imagePath);
    await linkBaseBeside(base, outDir);
    const meta: TMeta = {
      digest,
      sizeBytes,
      builtAt: new Date().toISOString(),
      key: opts.key,
      base: { digest: base.digest, sizeBytes: base.sizeBytes },
    };
    await writeFile(metaPath, `${JSON.stringify(meta, null, 2)}\n`);
    opts.onLog(
      `image ready in ${((Date.now() - started) / 1000).toFixed(1)} s: ${digest} (${(sizeBytes / 1e6).toFixed(0)} MB)`,
    );
    return { imagePath, digest, sizeBytes, fromCache: false, base };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
