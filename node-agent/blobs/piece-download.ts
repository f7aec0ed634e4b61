import { type FileHandle, mkdir, open, rename, rm, stat } from "node:fs/promises";
import { request } from "node:http";
import { dirname } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { hashPieces, pieceHash } from "@/core/blobs/pieces";
import { peerBlobUrl, type TBlobSources, ZDigest } from "@/lib/protocol";
import { DiskFullError, rethrowDiskFull } from "../host/disk-full";
import { sha256File } from "../image/layers";
import { answerError, consoleGet } from "./console-get";
import { partialPath, type TDownloadResult } from "./download";
import { BlobError } from "./errors";
import { rankPeers } from "./peer-rank";

/** Pieces one download fetches at once. */
export const PIECES_IN_PARALLEL = 4;
/** Pieces in flight in this process across downloads (a boot and two prefetches share these). */
export const MAX_PIECES_IN_FLIGHT = 8;
/** Rounds of asking busy peers again (waiting 0.25, 0.5, … s) before the console serves a piece. */
const BUSY_ROUNDS = 6;
const BUSY_WAIT_MS = 250;
/** A peer that sends nothing for this long is given up for this download. */
const PEER_IDLE_MS = 15_000;

export type TPieceDownloadResult = TDownloadResult & {
  /** Bytes received from peer nodes and from the console, and pieces a peer got wrong. */
  peerBytes: number;
  consoleBytes: number;
  rejectedPieces: number;
};

export type TPieceDownloadOptions = {
  sources: TBlobSources;
  destPath: string;
  /** The console's blob URL and its Bearer token: the source of last resort. */
  consoleUrl: string;
  token: string;
  /** This node's formnet address: peer requests leave from it (peers admit formnet nodes only). */
  localAddress?: string;
  signal?: AbortSignal;
  /** Called as pieces land: bytes held so far, of `sizeBytes`. */
  onProgress?: (heldBytes: number, sizeBytes: number) => void;
  /** A peer got a piece wrong or failed; the piece is fetched elsewhere. */
  onPeerProblem?: (peer: string, problem: string) => void;
};

/**
 * The result for a blob the store already holds, or null. Files in the store are only ever renamed
 * into place after verification, so presence is proof.
 */
export async function heldInStore(destPath: string, digest: string): Promise<TPieceDownloadResult | null> {
  const existing = await stat(destPath).catch(() => undefined);
  if (!existing?.isFile()) return null;
  const zero = { peerBytes: 0, consoleBytes: 0, rejectedPieces: 0 };
  return { path: destPath, digest, sizeBytes: existing.size, fromCache: true, ...zero };
}

/** Bounds piece requests in flight across every download of this process. */
class Slots {
  #free: number;
  readonly #waiting: (() => void)[] = [];
  constructor(n: number) {
    this.#free = n;
  }
  async take(): Promise<() => void> {
    if (this.#free > 0) this.#free -= 1;
    else await new Promise<void>((resolve) => this.#waiting.push(resolve));
    return () => {
      const next = this.#waiting.shift();
      if (next) next();
      else this.#free += 1;
    };
  }
}
const slots = new Slots(MAX_PIECES_IN_FLIGHT);

type TSource = { name: string; kind: "peer" | "console"; url: string };

/** Why a source could not give a piece: `gone` sources are not asked again in this download. */
class PieceProblem extends Error {
  constructor(
    message: string,
    readonly gone: boolean,
  ) {
    super(message);
  }
}

/**
 * Fetches a blob in pieces (protocol 6, lib/protocol/blobs.ts) from the peers that hold it, the
 * console last, several pieces at once. Every piece is checked against the console's hash of it
 * before it is written; a peer that sends a wrong piece, answers 404 or stops answering is dropped
 * for this download and the piece is fetched from the next source. The pieces land in `<dest>.part`
 * at their offsets, so a download cut short (agent killed, console down) keeps every verified piece
 * and the next attempt fetches only the rest. The whole file is then hashed once more against the
 * blob's digest before it is renamed into place.
 */
export async function downloadPieces(o: TPieceDownloadOptions): Promise<TPieceDownloadResult> {
  const { sources } = o;
  const digest = ZDigest.parse(sources.digest);
  const held = await heldInStore(o.destPath, digest);
  if (held) return held;

  const dir = dirname(o.destPath);
  await mkdir(dir, { recursive: true }).catch(rethrowDiskFull(dir));
  const temp = partialPath(o.destPath);
  const kept = await stat(temp).catch(() => undefined);
  const file = await open(temp, kept ? "r+" : "w+", 0o600).catch(rethrowDiskFull(dir));
  const stats = { peerBytes: 0, consoleBytes: 0, rejectedPieces: 0 };
  try {
    await file.truncate(sources.sizeBytes).catch(rethrowDiskFull(dir));
    const have = kept ? await hashPieces(temp, sources) : [];
    const todo = sources.pieces.flatMap((hash, i) => (have[i] === hash ? [] : [i]));
    let landed = (sources.pieces.length - todo.length) * sources.pieceBytes;
    // Holders that answer, nearest first (none without formnet: they would not admit this node).
    const ranked =
      o.localAddress && todo.length > 0
        ? await rankPeers({
            ...o,
            peers: sources.peers,
            digest,
            sizeBytes: sources.sizeBytes,
            localAddress: o.localAddress,
          })
        : [];
    const peers: TSource[] = ranked.map((p) => ({
      name: `node ${p.nodeId}`,
      kind: "peer",
      url: peerBlobUrl(p.formnetIp, digest),
    }));
    const near = Math.min(PIECES_IN_PARALLEL, peers.length);
    const consoleSource: TSource = { name: "the console", kind: "console", url: o.consoleUrl };
    const gone = new Set<string>();
    const stop = new AbortController();
    const signal = o.signal ? AbortSignal.any([o.signal, stop.signal]) : stop.signal;

    const fetchPiece = async (index: number): Promise<void> => {
      const start = index * sources.pieceBytes;
      const end = Math.min(sources.sizeBytes, start + sources.pieceBytes) - 1;
      // Piece i starts at the (i mod k)-th nearest of the k nearest holders, so pieces spread over
      // them; then the farther ones; the console comes last.
      const first = index % Math.max(1, near);
      const order = [...peers.slice(first, near), ...peers.slice(0, first), ...peers.slice(near)];
      const land = async (bytes: Buffer, kind: TSource["kind"]) => {
        await writeAll(file, bytes, start).catch(rethrowDiskFull(dir));
        if (kind === "peer") stats.peerBytes += bytes.length;
        else stats.consoleBytes += bytes.length;
        landed += bytes.length;
        o.onProgress?.(Math.min(landed, sources.sizeBytes), sources.sizeBytes);
      };
      // Peers first; while the only answer is "busy" (503), ask them again a little later rather
      // than take the piece from the console.
      for (let round = 0; round <= BUSY_ROUNDS; round++) {
        let busy = false;
        for (const source of order) {
          if (gone.has(source.url)) continue;
          const got = await fromPeer(source, index, { start, end });
          if (got === "busy") busy = true;
          else if (got !== null) return land(got, "peer");
        }
        if (!busy) break;
        await sleep(BUSY_WAIT_MS * (round + 1), undefined, { signal });
      }
      const bytes = await getRange(consoleSource, { start, end, token: o.token, signal });
      if (pieceHash(bytes) !== sources.pieces[index])
        throw new BlobError({
          code: "digestMismatch",
          url: consoleSource.url,
          message: `piece ${index} of ${digest} from the console does not match its hash`,
        });
      await land(bytes, "console");
    };

    /** A piece from a peer, checked; null when the peer failed (it is dropped), "busy" on 503. */
    const fromPeer = async (
      source: TSource,
      index: number,
      range: { start: number; end: number },
    ): Promise<Buffer | "busy" | null> => {
      let bytes: Buffer;
      try {
        bytes = await getRange(source, { ...range, token: o.token, localAddress: o.localAddress, signal });
      } catch (error) {
        if (signal.aborted) throw error;
        const problem = error instanceof PieceProblem ? error : new PieceProblem(String(error), true);
        o.onPeerProblem?.(source.name, problem.message);
        if (!problem.gone) return "busy";
        gone.add(source.url);
        return null;
      }
      if (pieceHash(bytes) === sources.pieces[index]) return bytes;
      stats.rejectedPieces += 1;
      gone.add(source.url);
      o.onPeerProblem?.(source.name, `piece ${index} failed its SHA-256 check: rejected, fetched elsewhere`);
      return null;
    };

    const queue = [...todo];
    let firstError: unknown;
    const worker = async () => {
      for (let index = queue.shift(); index !== undefined; index = queue.shift()) {
        const release = await slots.take();
        try {
          if (firstError === undefined) await fetchPiece(index);
        } catch (error) {
          // One piece failed everywhere: stop the others (their verified pieces are kept).
          firstError ??= error;
          queue.length = 0;
          stop.abort();
        } finally {
          release();
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(PIECES_IN_PARALLEL, todo.length) }, worker));
    if (firstError !== undefined) throw firstError;
    await file.sync();
  } catch (error) {
    // A full disk: the partial file goes too (the node needs the space back). Otherwise the
    // verified pieces stay in it for the next attempt.
    if (error instanceof DiskFullError) await rm(temp, { force: true });
    throw error instanceof BlobError || error instanceof DiskFullError
      ? error
      : new BlobError({
          code: o.signal?.aborted ? "aborted" : "io",
          url: o.consoleUrl,
          message: o.signal?.aborted
            ? "download cancelled"
            : `download of ${digest} failed: ${String(error)}`,
          cause: error,
        });
  } finally {
    await file.close();
  }

  const got = (await sha256File(temp)).digest;
  if (got !== digest) {
    await rm(temp, { force: true });
    throw new BlobError({
      code: "digestMismatch",
      url: o.consoleUrl,
      message: `digest mismatch for ${digest}: its pieces verified but the whole is ${got}`,
    });
  }
  await rename(temp, o.destPath).catch(async (error: unknown) => {
    await rm(temp, { force: true });
    rethrowDiskFull(dir)(error);
  });
  return {
    path: o.destPath,
    digest,
    sizeBytes: sources.sizeBytes,
    fromCache: false,
    fetchedBytes: stats.peerBytes + stats.consoleBytes,
    ...stats,
  };
}

/** Writes all of `bytes` at `position`: a nearly full disk may take part of a write, then ENOSPC. */
async function writeAll(file: FileHandle, bytes: Buffer, position: number): Promise<void> {
  for (let done = 0; done < bytes.length; ) {
    const { bytesWritten } = await file.write(bytes, done, bytes.length - done, position + done);
    if (bytesWritten === 0) throw new Error(`wrote nothing at byte ${position + done}`);
    done += bytesWritten;
  }
}

/** One piece: `bytes=start-end` from a peer (plain HTTP over formnet) or the console (fetch). */
async function getRange(
  source: TSource,
  o: { start: number; end: number; token: string; localAddress?: string; signal?: AbortSignal },
): Promise<Buffer> {
  const range = `bytes=${o.start}-${o.end}`;
  const want = o.end - o.start + 1;
  if (source.kind === "console") {
    const response = await consoleGet({ url: source.url, token: o.token, range, signal: o.signal });
    if (response.status !== 206)
      throw await answerError(response, { url: source.url, request: `GET ${source.url} (${range})` });
    const bytes = Buffer.from(
      await response.arrayBuffer().catch((error: unknown) => {
        throw new BlobError({
          code: "io",
          url: source.url,
          message: `${source.url} cut off a piece`,
          cause: error,
        });
      }),
    );
    if (bytes.length !== want)
      throw new BlobError({
        code: "io",
        url: source.url,
        message: `${source.url} sent ${bytes.length} of ${want} bytes for ${range}`,
      });
    return bytes;
  }
  return new Promise<Buffer>((resolve, reject) => {
    const req = request(source.url, {
      headers: { range },
      localAddress: o.localAddress,
      signal: o.signal,
      timeout: PEER_IDLE_MS,
    });
    req.on("timeout", () => req.destroy(new PieceProblem(`no answer for ${PEER_IDLE_MS / 1000} s`, true)));
    req.on("error", (error) =>
      reject(
        error instanceof PieceProblem ? error : new PieceProblem(`unreachable (${error.message})`, true),
      ),
    );
    req.on("response", (res) => {
      if (res.statusCode !== 206) {
        res.resume();
        // 503: busy with other transfers, asked again for later pieces; anything else: not a holder.
        reject(new PieceProblem(`answered ${res.statusCode ?? "?"}`, res.statusCode !== 503));
        return;
      }
      const chunks: Buffer[] = [];
      let n = 0;
      res.on("data", (chunk: Buffer) => {
        n += chunk.length;
        if (n > want) req.destroy(new PieceProblem(`sent more than ${want} bytes for ${range}`, true));
        else chunks.push(chunk);
      });
      res.on("end", () =>
        n === want
          ? resolve(Buffer.concat(chunks, n))
          : reject(new PieceProblem(`sent ${n} of ${want} bytes`, true)),
      );
      res.on("error", (error) => reject(new PieceProblem(`cut off (${error.message})`, true)));
    });
    req.end();
  });
}
