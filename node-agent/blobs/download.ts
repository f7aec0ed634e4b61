import { createHash } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdir, rename, rm, stat } from "node:fs/promises";
import { dirname } from "node:path";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { ReadableStream as WebReadableStream } from "node:stream/web";
import { digestHex } from "../config/paths";
import { diskFullError, rethrowDiskFull } from "../host/disk-full";
import { BlobError } from "./errors";

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
}

/**
 * Stream a blob to disk while hashing it, then rename it into place only if the digest matches,
 * so a truncated or tampered transfer never leaves a plausible-looking file behind. A full disk
 * is a DiskFullError (node-agent/host/disk-full.ts), and the partial file is removed with it.
 */
export async function downloadBlob(options: TDownloadOptions): Promise<TDownloadResult> {
  const wantHex = digestHex(options.expectedDigest);
  const digest = `sha256:${wantHex}`;
  const existing = await stat(options.destPath).catch(() => undefined);
  // Files in the store are only ever renamed into place after verification, so presence is proof.
  if (existing?.isFile())
    return { path: options.destPath, digest, sizeBytes: existing.size, fromCache: true };

  const response = await fetchOrThrow(options);
  if (!response.body)
    throw new BlobError({ code: "http", url: options.url, message: "response has no body" });
  const dir = dirname(options.destPath);
  await mkdir(dir, { recursive: true }).catch(rethrowDiskFull(dir));
  const temp = `${options.destPath}.${process.pid}.${Date.now()}.part`;
  const hash = createHash("sha256");
  let sizeBytes = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      sizeBytes += chunk.length;
      callback(null, chunk);
    },
  });
  try {
    const body = Readable.fromWeb(response.body as WebReadableStream<Uint8Array>);
    await pipeline(body, meter, createWriteStream(temp, { mode: 0o600 }), { signal: options.signal });
  } catch (error) {
    await rm(temp, { force: true });
    const aborted = options.signal?.aborted === true;
    const full = aborted ? null : diskFullError(error, dir);
    if (full) throw full;
    throw new BlobError({
      code: aborted ? "aborted" : "io",
      url: options.url,
      message: aborted ? "download cancelled" : `download of ${options.url} failed mid-stream`,
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
  return { path: options.destPath, digest, sizeBytes, fromCache: false };
}

async function fetchOrThrow(options: TDownloadOptions): Promise<Response> {
  let response: Response;
  try {
    response = await fetch(options.url, {
      headers: options.token ? { authorization: `Bearer ${options.token}` } : {},
      signal: options.signal,
    });
  } catch (error) {
    throw new BlobError({
      code: options.signal?.aborted ? "aborted" : "network",
      url: options.url,
      message: `cannot fetch ${options.url}`,
      cause: error,
    });
  }
  if (!response.ok) {
    const detail = (await response.text().catch(() => "")).slice(0, 300);
    throw new BlobError({
      code: "http",
      url: options.url,
      status: response.status,
      message: `GET ${options.url} answered ${response.status}${detail ? `: ${detail}` : ""}`,
    });
  }
  return response;
}
