import { rm } from "node:fs/promises";
import {
  agentBlobSourcesPath,
  agentImagePath,
  type TBlobSources,
  ZBlobSources,
  ZDigest,
} from "@/lib/protocol";
import { answerError, consoleGet } from "./console-get";
import { downloadBlob, partialPath } from "./download";
import { BlobError } from "./errors";
import { sharedInFlight } from "./inflight";
import {
  downloadPieces,
  heldInStore,
  type TPieceDownloadOptions,
  type TPieceDownloadResult,
} from "./piece-download";

export type TFetchBlobOptions = {
  digest: string;
  destPath: string;
  consoleUrl: string;
  token: string;
  /** Console-relative (or absolute) URL of the blob itself; `/api/agent/images/<digest>` by default. */
  blobUrl?: string;
} & Pick<TPieceDownloadOptions, "localAddress" | "signal" | "onProgress" | "onPeerProblem">;

/** Fetches in this process, by destination: a boot and a prefetch of one image share one. */
const inflight = new Map<string, Promise<TPieceDownloadResult>>();

/**
 * Fetches an image blob into the store: asks the console who holds it and what its pieces hash to
 * (`GET /api/agent/sources/<digest>`), then downloads the pieces from those peers, the console
 * last (piece-download.ts). A console that does not know the blob's sources (404) is asked for the
 * whole blob instead, which then fails with the console's own answer if it lacks the blob too.
 */
export function fetchBlob(o: TFetchBlobOptions): Promise<TPieceDownloadResult> {
  return sharedInFlight(inflight, o.destPath, () => fetchOnce(o));
}

async function fetchOnce(o: TFetchBlobOptions): Promise<TPieceDownloadResult> {
  const digest = ZDigest.parse(o.digest);
  const held = await heldInStore(o.destPath, digest);
  if (held) return held;
  const blobUrl = new URL(o.blobUrl ?? agentImagePath(digest), o.consoleUrl).toString();
  const sourcesUrl = new URL(agentBlobSourcesPath(digest), o.consoleUrl).toString();
  const response = await consoleGet({ url: sourcesUrl, token: o.token, signal: o.signal });
  if (response.status === 404) {
    await response.body?.cancel().catch(() => undefined);
    await rm(partialPath(o.destPath), { force: true });
    const whole = await downloadBlob({
      url: blobUrl,
      expectedDigest: digest,
      destPath: o.destPath,
      token: o.token,
      signal: o.signal,
    });
    return { ...whole, peerBytes: 0, consoleBytes: whole.fetchedBytes ?? 0, rejectedPieces: 0 };
  }
  if (!response.ok) throw await answerError(response, { url: sourcesUrl, request: `GET ${sourcesUrl}` });
  const text = await response.text().catch(() => "");
  const sources = parseSources(text);
  if (!sources)
    throw new BlobError({
      code: "invalid",
      url: sourcesUrl,
      message: `the console's sources of ${digest} are malformed`,
    });
  if (sources.digest !== digest)
    throw new BlobError({
      code: "invalid",
      url: sourcesUrl,
      message: `asked for the sources of ${digest}, got ${sources.digest}'s`,
    });
  return downloadPieces({ ...o, sources, destPath: o.destPath, consoleUrl: blobUrl });
}

function parseSources(text: string): TBlobSources | null {
  try {
    const parsed = ZBlobSources.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}
