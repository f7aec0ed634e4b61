import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { Readable } from "node:stream";
import { BlobError } from "./errors";

export interface TUploadOptions {
  /** Full URL, e.g. `<console>/api/agent/images/<digest>`. */
  url: string;
  path: string;
  token?: string;
  signal?: AbortSignal;
  /** Ask first (HEAD) and send nothing when the console already holds the blob (a shared base). */
  skipIfPresent?: boolean;
}

/** Stream a file to the console with PUT; the console verifies the digest named in the URL. */
export async function uploadBlob(options: TUploadOptions): Promise<{ sizeBytes: number; sent: boolean }> {
  const { size } = await stat(options.path);
  if (options.skipIfPresent && (await consoleHolds(options))) return { sizeBytes: size, sent: false };
  const body = Readable.toWeb(createReadStream(options.path)) as ReadableStream<Uint8Array>;
  let response: Response;
  try {
    response = await fetch(options.url, {
      method: "PUT",
      headers: {
        "content-type": "application/octet-stream",
        "content-length": String(size),
        ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
      },
      body,
      // Node's fetch requires half-duplex to send a streamed body.
      duplex: "half",
      signal: options.signal,
    } as RequestInit & { duplex: "half" });
  } catch (error) {
    throw new BlobError({
      code: options.signal?.aborted ? "aborted" : "network",
      url: options.url,
      message: `cannot upload to ${options.url}`,
      cause: error,
    });
  }
  if (!response.ok) {
    const detail = (await response.text().catch(() => "")).slice(0, 300);
    throw new BlobError({
      code: "http",
      url: options.url,
      status: response.status,
      message: `PUT ${options.url} answered ${response.status}${detail ? `: ${detail}` : ""}`,
    });
  }
  return { sizeBytes: size, sent: true };
}

async function consoleHolds(options: TUploadOptions): Promise<boolean> {
  const response = await fetch(options.url, {
    method: "HEAD",
    headers: options.token ? { authorization: `Bearer ${options.token}` } : {},
    signal: options.signal,
  }).catch((error: unknown) => {
    throw new BlobError({
      code: options.signal?.aborted ? "aborted" : "network",
      url: options.url,
      message: `cannot reach ${options.url}`,
      cause: error,
    });
  });
  if (response.status === 404) return false;
  if (response.ok) return true;
  throw new BlobError({
    code: "http",
    url: options.url,
    status: response.status,
    message: `HEAD ${options.url} answered ${response.status}`,
  });
}
