import { BlobError } from "./errors";

/**
 * GET from the console with the agent's Bearer token (and a `Range` when given). A connection that
 * fails is a BlobError `network` (or `aborted` when the job's signal fired); any answer is returned.
 */
export async function consoleGet(o: {
  url: string;
  token?: string;
  range?: string;
  signal?: AbortSignal;
}): Promise<Response> {
  try {
    return await fetch(o.url, {
      headers: {
        ...(o.token ? { authorization: `Bearer ${o.token}` } : {}),
        ...(o.range ? { range: o.range } : {}),
      },
      signal: o.signal,
    });
  } catch (error) {
    throw new BlobError({
      code: o.signal?.aborted ? "aborted" : "network",
      url: o.url,
      message: `cannot fetch ${o.url}`,
      cause: error,
    });
  }
}

/** The BlobError for an answer that is not the one asked for: its status and the start of its body. */
export async function answerError(
  response: Response,
  o: { url: string; request: string },
): Promise<BlobError> {
  const detail = (await response.text().catch(() => "")).slice(0, 300);
  return new BlobError({
    code: "http",
    url: o.url,
    status: response.status,
    message: `${o.request} answered ${response.status}${detail ? `: ${detail}` : ""}`,
  });
}
