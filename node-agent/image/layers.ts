import { createHash, randomBytes } from "node:crypto";
import { createReadStream, existsSync } from "node:fs";
import { chmod, readFile, rename, rm, symlink, unlink, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { z } from "zod";
import { FormationError } from "@/lib/errors";
import { BLOB_FILE_NAME, blobFileName } from "../config/paths";
import { run } from "../host/exec";

/**
 * Images as a shared base plus a per-build layer (docs/node-agent-vm.md, "Images: base + layer").
 *
 * The base is the Debian root file system as one qcow2 file, content-addressed like every blob. A
 * build writes only into a qcow2 overlay of it (the layer), whose header names its backing file by
 * the base's digest: `sha256-<hex>.img`, the name every blob has in an agent's image store and
 * beside every layer in the builder cache. So the layer's digest (the image digest the owner
 * commits on-chain) covers the base's digest too, and a node that holds the base fetches only the
 * layer.
 */

export { blobFileName };

/** Bump when the conversion of the base's ext4 image into its qcow2 blob changes. */
const BASE_BLOB_VERSION = "1";

export type TBaseBlob = { path: string; digest: string; sizeBytes: number };

const ZBaseBlobMeta = z.object({
  version: z.literal(BASE_BLOB_VERSION),
  digest: z.string().regex(/^sha256:[0-9a-f]{64}$/),
  sizeBytes: z.number().int().positive(),
});

const inflight = new Map<string, Promise<TBaseBlob>>();

/**
 * The base as a qcow2 blob beside its ext4 image, converted and hashed once per base (a few
 * seconds) and then shared by every build. World-readable: the build VM's unprivileged QEMU reads
 * it as the backing file of the layer it writes.
 */
export function ensureBaseBlob(opts: {
  baseImage: string;
  signal?: AbortSignal;
  onLog?: (line: string) => void;
}): Promise<TBaseBlob> {
  const key = opts.baseImage;
  const existing = inflight.get(key);
  if (existing !== undefined) return existing;
  const p = loadOrMakeBaseBlob(opts).finally(() => inflight.delete(key));
  inflight.set(key, p);
  return p;
}

async function loadOrMakeBaseBlob(opts: {
  baseImage: string;
  signal?: AbortSignal;
  onLog?: (line: string) => void;
}): Promise<TBaseBlob> {
  const metaPath = `${opts.baseImage}.blob.json`;
  const dir = dirname(opts.baseImage);
  const meta = ZBaseBlobMeta.safeParse(await readJsonFile(metaPath));
  if (meta.success) {
    const path = join(dir, blobFileName(meta.data.digest));
    if (existsSync(path)) return { path, digest: meta.data.digest, sizeBytes: meta.data.sizeBytes };
  }
  const started = Date.now();
  const tmp = join(dir, `.${randomBytes(6).toString("hex")}.qcow2.tmp`);
  try {
    await run(["qemu-img", "convert", "-O", "qcow2", opts.baseImage, tmp], { signal: opts.signal });
    const { digest, sizeBytes } = await sha256File(tmp);
    const path = join(dir, blobFileName(digest));
    await chmod(tmp, 0o644);
    await rename(tmp, path);
    await writeFile(metaPath, `${JSON.stringify({ version: BASE_BLOB_VERSION, digest, sizeBytes })}\n`);
    opts.onLog?.(
      `base: qcow2 blob ${digest} (${(sizeBytes / 1e6).toFixed(0)} MB) in ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
    return { path, digest, sizeBytes };
  } finally {
    await rm(tmp, { force: true });
  }
}

/**
 * An empty layer over `base` in `dir`, `diskGb` GB virtual, with the base linked beside it under
 * its blob name (the layer's backing file name resolves relative to the layer's folder).
 */
export async function createLayer(opts: {
  base: TBaseBlob;
  dir: string;
  name: string;
  diskGb: number;
}): Promise<string> {
  await linkBaseBeside(opts.base, opts.dir);
  const path = join(opts.dir, opts.name);
  await createOverlay({ backing: blobFileName(opts.base.digest), path, sizeGb: opts.diskGb });
  return path;
}

/** An empty qcow2 of `sizeGb` GB whose reads fall through to `backing` (a qcow2; relative to `path`'s folder). */
export async function createOverlay(opts: { backing: string; path: string; sizeGb: number }): Promise<void> {
  await run([
    "qemu-img",
    "create",
    "-q",
    "-f",
    "qcow2",
    "-b",
    opts.backing,
    "-F",
    "qcow2",
    opts.path,
    `${opts.sizeGb}G`,
  ]);
}

/** Makes `dir/sha256-<hex>.img` point at the base (a symlink; replaced if it pointed elsewhere). */
export async function linkBaseBeside(base: TBaseBlob, dir: string): Promise<void> {
  const link = join(dir, blobFileName(base.digest));
  await unlink(link).catch(() => undefined);
  await symlink(base.path, link);
}

export type TImageHeader = {
  format: string;
  virtualSizeBytes: number;
  /** The base's digest when the image is a layer; null for a self-contained image. */
  baseDigest: string | null;
};

export type TImageFormatErrorCode = "NOT_QCOW2" | "BAD_BACKING" | "DATA_FILE" | "UNREADABLE";

/** A downloaded or cached image that may not be booted as it is: its header says why. */
export class ImageFormatError extends FormationError<TImageFormatErrorCode> {
  override readonly name = "ImageFormatError";
}

const ZQemuImgInfo = z.object({
  format: z.string(),
  "virtual-size": z.number(),
  "backing-filename": z.string().optional(),
  "backing-filename-format": z.string().optional(),
  "format-specific": z
    .object({ type: z.string(), data: z.record(z.string(), z.unknown()).optional() })
    .optional(),
});

/**
 * What an image's header says, checked as input from a stranger: a qcow2 file whose only outside
 * reference is, at most, a backing file named by a digest (`sha256-<hex>.img`, qcow2). Any other
 * backing name (a host path such as /etc/shadow, `json:` options, a protocol) or an external data
 * file would let an image read host files when QEMU opens it, so it is refused.
 */
export async function readImageHeader(path: string): Promise<TImageHeader> {
  const r = await run(["qemu-img", "info", "--output=json", "-U", path], { allowFailure: true });
  if (r.exitCode !== 0)
    throw new ImageFormatError(
      "UNREADABLE",
      `qemu-img cannot read ${path}: ${r.stderr.trim().slice(0, 300)}`,
    );
  const info = ZQemuImgInfo.safeParse(JSON.parse(r.stdout) as unknown);
  if (!info.success) throw new ImageFormatError("UNREADABLE", `unexpected qemu-img info output for ${path}`);
  return checkImageInfo(info.data, path);
}

/** The pure check behind readImageHeader (unit-tested with hostile headers). */
export function checkImageInfo(info: z.infer<typeof ZQemuImgInfo>, path: string): TImageHeader {
  if (info.format !== "qcow2")
    throw new ImageFormatError("NOT_QCOW2", `${path} is ${info.format}, not qcow2`);
  const data = info["format-specific"]?.data ?? {};
  if ("data-file" in data)
    throw new ImageFormatError("DATA_FILE", `${path} keeps its data in an external file; refused`);
  const backing = info["backing-filename"];
  if (backing === undefined)
    return { format: info.format, virtualSizeBytes: info["virtual-size"], baseDigest: null };
  const match = BLOB_FILE_NAME.exec(backing);
  if (!match?.[1] || (info["backing-filename-format"] ?? "qcow2") !== "qcow2")
    throw new ImageFormatError(
      "BAD_BACKING",
      `${path} names backing file ${JSON.stringify(backing.slice(0, 200))}; only a base blob (sha256-<hex>.img, qcow2) is allowed`,
    );
  return { format: info.format, virtualSizeBytes: info["virtual-size"], baseDigest: `sha256:${match[1]}` };
}

/** sha256 of a file in one streaming read, with its size from the same pass. */
export async function sha256File(path: string): Promise<{ digest: string; sizeBytes: number }> {
  const h = createHash("sha256");
  let sizeBytes = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: 4 << 20 })) {
    const buf = chunk as Buffer;
    sizeBytes += buf.length;
    h.update(buf);
  }
  return { digest: `sha256:${h.digest("hex")}`, sizeBytes };
}

/** A JSON file's value; null when it is missing or not JSON (cut short by a crash). */
export async function readJsonFile(path: string): Promise<unknown> {
  const text = await readFile(path, "utf8").catch(() => "");
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return null;
  }
}
