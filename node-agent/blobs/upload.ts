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
}

/** Stream a file to the console with PUT; the console verifies the digest named in the URL. */
export async function uploadBlob(options: TUploadOptions): Promise<{ sizeBytes: number }> {
  const { size } = await stat(options.path);
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
  return { sizeBytes: size };
}
