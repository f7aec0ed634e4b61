import { createHash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, rename, rm, stat } from "node:fs/promises";
import { dirname } from "node:path";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { ReadableStream as WebReadableStream } from "node:stream/web";
import { digestHex } from "../config/paths";
import { diskFullError, rethrowDiskFull } from "../host/disk-full";
import { answerError, consoleGet } from "./console-get";
import { BlobError } from "./errors";
import { sharedInFlight } from "./inflight";

export interface TDownloadOptions {
  url: string;
  /** `sha256:<hex>` or bare hex; the file is only moved into place when the bytes match. */
  expectedDigest: string;
  destPath: string;
  /** Bearer token from the console's `welcome`. */
  token?: string;
  signal?: AbortSignal;
}

export interface TDownloadResult {
  path: string;
  digest: string;
  sizeBytes: number;
  /** True when a file with the right name already existed and nothing was fetched. */
  fromCache: boolean;
  /** Bytes this attempt received (less than sizeBytes when it resumed an earlier one). */
  fetchedBytes?: number;
}

/** Downloads in flight in this process, by destination: a boot and a prefetch of one image share one. */
const inflight = new Map<string, Promise<TDownloadResult>>();

/**
 * Stream a blob to disk while hashing it, then rename it into place only if the digest matches,
 * so a truncated or tampered transfer never leaves a plausible-looking file behind. A transfer cut
 * short (network, agent killed) keeps its bytes in `<dest>.part`; the next attempt hashes them and
 * asks only for the rest (`Range: bytes=N-`), and starts over if the server sends the whole blob
 * or the result does not verify. A full disk is a DiskFullError (node-agent/host/disk-full.ts), and
 * the partial file is removed with it.
 */
export function downloadBlob(options: TDownloadOptions): Promise<TDownloadResult> {
  return sharedInFlight(inflight, options.destPath, () => download(options));
}

/** Where the bytes of an unfinished download of `destPath` are kept between attempts. */
export function partialPath(destPath: string): string {
  return `${destPath}.part`;
}

async function download(options: TDownloadOptions): Promise<TDownloadResult> {
  const wantHex = digestHex(options.expectedDigest);
  const digest = `sha256:${wantHex}`;
  const existing = await stat(options.destPath).catch(() => undefined);
  // Files in the store are only ever renamed into place after verification, so presence is proof.
  if (existing?.isFile())
    return { path: options.destPath, digest, sizeBytes: existing.size, fromCache: true };

  const dir = dirname(options.destPath);
  await mkdir(dir, { recursive: true }).catch(rethrowDiskFull(dir));
  const temp = partialPath(options.destPath);
  const hash = createHash("sha256");
  let sizeBytes = await hashExisting(temp, hash);
  const response = await fetchOrThrow(options, sizeBytes).catch(async (error: unknown) => {
    // 416: the kept bytes are not a prefix the server can continue; start over.
    if (sizeBytes > 0 && error instanceof BlobError && error.status === 416) {
      await rm(temp, { force: true });
      return null;
    }
    throw error;
  });
  if (response === null) return download(options);
  if (!response.body)
    throw new BlobError({ code: "http", url: options.url, message: "response has no body" });
  let fetchedBytes = 0;
  if (response.status !== 206 && sizeBytes > 0) {
    // The server sent the whole blob: start over.
    await response.body.cancel().catch(() => undefined);
    await rm(temp, { force: true });
    return download(options);
  }
  const meter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      sizeBytes += chunk.length;
      fetchedBytes += chunk.length;
      callback(null, chunk);
    },
  });
  try {
    const body = Readable.fromWeb(response.body as WebReadableStream<Uint8Array>);
    await pipeline(body, meter, createWriteStream(temp, { mode: 0o600, flags: "a" }), {
      signal: options.signal,
    });
  } catch (error) {
    const aborted = options.signal?.aborted === true;
    const full = aborted ? null : diskFullError(error, dir);
    if (full) {
      await rm(temp, { force: true });
      throw full;
    }
    // The bytes so far stay in the partial file for the next attempt.
    throw new BlobError({
      code: aborted ? "aborted" : "io",
      url: options.url,
      message: aborted
        ? "download cancelled"
        : `download of ${options.url} failed mid-stream (${sizeBytes} bytes kept to resume)`,
      cause: error,
    });
  }
  const gotHex = hash.digest("hex");
  if (gotHex !== wantHex) {
    await rm(temp, { force: true });
    throw new BlobError({
      code: "digestMismatch",
      url: options.url,
      message: `digest mismatch for ${options.url}: expected sha256:${wantHex}, got sha256:${gotHex} (${sizeBytes} bytes)`,
    });
  }
  await rename(temp, options.destPath).catch(async (error: unknown) => {
    await rm(temp, { force: true });
    rethrowDiskFull(dir)(error);
  });
  return { path: options.destPath, digest, sizeBytes, fromCache: false, fetchedBytes };
}

/** Feeds the bytes an earlier attempt kept into `hash`; returns how many there were. */
async function hashExisting(path: string, hash: ReturnType<typeof createHash>): Promise<number> {
  let n = 0;
  try {
    for await (const chunk of createReadStream(path, { highWaterMark: 4 << 20 })) {
      hash.update(chunk as Buffer);
      n += (chunk as Buffer).length;
    }
  } catch {
    return 0;
  }
  return n;
}

async function fetchOrThrow(options: TDownloadOptions, from: number): Promise<Response> {
  const response = await consoleGet({
    url: options.url,
    token: options.token,
    range: from > 0 ? `bytes=${from}-` : undefined,
    signal: options.signal,
  });
  if (!response.ok) throw await answerError(response, { url: options.url, request: `GET ${options.url}` });
  return response;
}
