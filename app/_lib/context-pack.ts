import { compileIgnore } from "@/lib/context/ignore";

/**
 * Build-context packing in the browser: a small deterministic ustar writer + gzip through the
 * standard CompressionStream, digested with Web Crypto. Same rules as the CLI's packer
 * (core/context/pack.ts): sorted entries, mtime 0, uid/gid 0, modes 0644/0755, `.formignore`
 * honoured, gzip OS byte pinned, digest = `sha256:` of the .tar.gz bytes. The console only needs a
 * valid archive whose digest the signature binds; byte-equality with the CLI is not required
 * (a browser cannot see the executable bit), but re-packing the same files gives the same digest.
 */

export type TContextFile = { path: string; data: Uint8Array; executable?: boolean };
export type TPackedBrowserContext = {
  tarGz: Uint8Array;
  digest: `sha256:${string}`;
  files: number;
  bytes: number;
};

const BLOCK = 512;
const encoder = new TextEncoder();

function writeString(buf: Uint8Array, offset: number, length: number, value: string): void {
  const bytes = encoder.encode(value);
  if (bytes.length > length) throw new Error(`tar: "${value}" is too long for its header field`);
  buf.set(bytes, offset);
}

function writeOctal(buf: Uint8Array, offset: number, length: number, value: number): void {
  writeString(buf, offset, length, `${value.toString(8).padStart(length - 1, "0")}\0`);
}

/** Splits a long path into ustar's prefix (≤155) and name (≤100) at a slash. */
function splitName(path: string): { name: string; prefix: string } {
  if (encoder.encode(path).length <= 100) return { name: path, prefix: "" };
  for (let i = path.lastIndexOf("/"); i > 0; i = path.lastIndexOf("/", i - 1)) {
    const prefix = path.slice(0, i);
    const name = path.slice(i + 1);
    if (encoder.encode(name).length <= 100 && encoder.encode(prefix).length <= 155) return { name, prefix };
  }
  throw new Error(`path too long for the build context archive: ${path}`);
}

function header(entry: { path: string; type: "0" | "5"; mode: number; size: number }): Uint8Array {
  const buf = new Uint8Array(BLOCK);
  const { name, prefix } = splitName(entry.path);
  writeString(buf, 0, 100, name);
  writeOctal(buf, 100, 8, entry.mode);
  writeOctal(buf, 108, 8, 0);
  writeOctal(buf, 116, 8, 0);
  writeOctal(buf, 124, 12, entry.size);
  writeOctal(buf, 136, 12, 0);
  buf.fill(0x20, 148, 156); // checksum is computed with its own field as spaces
  writeString(buf, 156, 1, entry.type);
  writeString(buf, 257, 6, "ustar\0");
  writeString(buf, 263, 2, "00");
  writeString(buf, 345, 155, prefix);
  let sum = 0;
  for (const b of buf) sum += b;
  writeString(buf, 148, 8, `${sum.toString(8).padStart(6, "0")}\0 `);
  return buf;
}

/** Normalises a relative path: forward slashes, no leading `./` or `/`, refuses `..`. */
export function normalisePath(path: string): string {
  const parts = path
    .replaceAll("\\", "/")
    .split("/")
    .filter((p) => p !== "" && p !== ".");
  if (parts.some((p) => p === "..")) throw new Error(`refusing path with "..": ${path}`);
  return parts.join("/");
}

/** Drops files excluded by the context's `.formignore` (and `.git/`, as the CLI does). */
export function applyFormignore(files: TContextFile[]): TContextFile[] {
  const ignoreFile = files.find((f) => normalisePath(f.path) === ".formignore");
  const matcher = compileIgnore(ignoreFile ? new TextDecoder().decode(ignoreFile.data) : "");
  return files.filter((f) => !matcher.excludes(normalisePath(f.path), false));
}

/** Uncompressed deterministic tar of `files` (directories added for every parent). */
export function writeTar(files: TContextFile[]): Uint8Array {
  const byPath = new Map<string, TContextFile>();
  for (const f of files) byPath.set(normalisePath(f.path), f);
  const dirs = new Set<string>();
  for (const path of byPath.keys()) {
    const parts = path.split("/");
    for (let i = 1; i < parts.length; i++) dirs.add(parts.slice(0, i).join("/"));
  }
  const paths = [...new Set([...dirs, ...byPath.keys()])].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const chunks: Uint8Array[] = [];
  for (const path of paths) {
    const file = byPath.get(path);
    if (!file) {
      chunks.push(header({ path, type: "5", mode: 0o755, size: 0 }));
      continue;
    }
    chunks.push(header({ path, type: "0", mode: file.executable ? 0o755 : 0o644, size: file.data.length }));
    chunks.push(file.data);
    const pad = (BLOCK - (file.data.length % BLOCK)) % BLOCK;
    if (pad > 0) chunks.push(new Uint8Array(pad));
  }
  chunks.push(new Uint8Array(BLOCK * 2));
  return concat(chunks);
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let offset = 0;
  for (const c of chunks) {
    out.set(c, offset);
    offset += c.length;
  }
  return out;
}

async function pipeThrough(
  data: Uint8Array,
  stream: CompressionStream | DecompressionStream,
): Promise<Uint8Array> {
  const body = new Blob([data as Uint8Array<ArrayBuffer>]).stream().pipeThrough(stream);
  return new Uint8Array(await new Response(body).arrayBuffer());
}

/** `sha256:<hex>` of bytes (Web Crypto). */
export async function sha256Digest(data: Uint8Array): Promise<`sha256:${string}`> {
  const hash = new Uint8Array(await crypto.subtle.digest("SHA-256", data as Uint8Array<ArrayBuffer>));
  return `sha256:${Array.from(hash, (b) => b.toString(16).padStart(2, "0")).join("")}`;
}

/** Packs files into a gzip tarball and digests it. */
export async function packBrowserContext(files: TContextFile[]): Promise<TPackedBrowserContext> {
  const kept = applyFormignore(files);
  const tarGz = await pipeThrough(writeTar(kept), new CompressionStream("gzip"));
  // The gzip header's OS byte differs between engines; pin it (Unix) so digests are reproducible.
  if (tarGz.length > 9) tarGz[9] = 3;
  return {
    tarGz,
    digest: await sha256Digest(tarGz),
    files: kept.length,
    bytes: kept.reduce((n, f) => n + f.data.length, 0),
  };
}

/** Reads one regular file out of a (gzip) tarball, e.g. the Formfile of a dropped .tar.gz. */
export async function readFileFromTarball(archive: Uint8Array, wanted: string): Promise<Uint8Array | null> {
  const gz = archive[0] === 0x1f && archive[1] === 0x8b;
  const tar = gz ? await pipeThrough(archive, new DecompressionStream("gzip")) : archive;
  const decoder = new TextDecoder();
  const field = (b: Uint8Array, o: number, n: number) =>
    decoder.decode(b.subarray(o, o + n)).replace(/\0.*$/s, "");
  let offset = 0;
  while (offset + BLOCK <= tar.length) {
    const block = tar.subarray(offset, offset + BLOCK);
    if (block.every((b) => b === 0)) break;
    const name = field(block, 0, 100);
    const prefix = field(block, 345, 155);
    const size = Number.parseInt(field(block, 124, 12).trim() || "0", 8);
    const type = field(block, 156, 1) || "0";
    const path = normalisePath(prefix ? `${prefix}/${name}` : name);
    offset += BLOCK;
    if (type === "0" && path === wanted) return tar.slice(offset, offset + size);
    offset += Math.ceil(size / BLOCK) * BLOCK;
  }
  return null;
}

/** Base64 of bytes, for contexts small enough to ride inline in the builds.create input. */
export function toBase64(bytes: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

/** Paths of the regular files in a (gzip) tarball, normalised (for checking COPY sources). */
export async function listTarballPaths(archive: Uint8Array): Promise<string[]> {
  const gz = archive[0] === 0x1f && archive[1] === 0x8b;
  const tar = gz ? await pipeThrough(archive, new DecompressionStream("gzip")) : archive;
  const decoder = new TextDecoder();
  const field = (b: Uint8Array, o: number, n: number) =>
    decoder.decode(b.subarray(o, o + n)).replace(/\0.*$/s, "");
  const paths: string[] = [];
  let offset = 0;
  while (offset + BLOCK <= tar.length) {
    const block = tar.subarray(offset, offset + BLOCK);
    if (block.every((b) => b === 0)) break;
    const name = field(block, 0, 100);
    const prefix = field(block, 345, 155);
    const size = Number.parseInt(field(block, 124, 12).trim() || "0", 8);
    const type = field(block, 156, 1) || "0";
    if (type === "0" || type === "5") paths.push(normalisePath(prefix ? `${prefix}/${name}` : name));
    offset += BLOCK + Math.ceil(size / BLOCK) * BLOCK;
  }
  return paths;
}
