import { createHash, randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hashPieces } from "@/core/blobs/pieces";
import { createLogger } from "@/core/log";
import { agentBlobSourcesPath, PEER_BLOB_PORT, parseRange, type TBlobSources } from "@/lib/protocol";
import { dataPaths, imagePathFor, type TDataPaths } from "../config/paths";
import { partialPath } from "./download";
import { fetchBlob } from "./fetch-blob";
import { rankPeers } from "./peer-rank";
import { PeerBlobServer } from "./peer-server";
import { downloadPieces } from "./piece-download";

/**
 * Nodes fetching an image from each other (protocol 6) over real HTTP: real PeerBlobServers on
 * loopback addresses of their own (the port is the protocol's), a stand-in for the console's blob
 * and sources routes, and the real piece downloader.
 */

const PIECE = 64 << 10;
const blob = randomBytes(5 * PIECE - 1000);
const digest = `sha256:${createHash("sha256").update(blob).digest("hex")}`;
const SELF = "127.0.0.1";
const PEER_A = "127.42.0.2";
const PEER_B = "127.42.0.3";
/** Listed as a holder, but nothing listens there. */
const PEER_GONE = "127.42.0.4";

let dir: string;
let consoleServer: Server;
let consoleUrl: string;
/** Ranges the console was asked for, in order. */
const consoleRanges: string[] = [];
let sourcesAnswer: 200 | 404 = 200;
const peers: PeerBlobServer[] = [];
const peerPaths = new Map<string, TDataPaths>();
let sources: TBlobSources;
const logger = createLogger("peer-transfer-test");

async function startPeer(address: string, opts: { allowed: string[]; maxStreams?: number }) {
  const paths = dataPaths(join(dir, address));
  await mkdir(paths.images, { recursive: true });
  const server = new PeerBlobServer({ paths, logger, maxStreams: opts.maxStreams });
  server.setAllowedSources(opts.allowed);
  await server.listen(address);
  peers.push(server);
  peerPaths.set(address, paths);
  return paths;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "peer-transfer-"));
  await writeFile(join(dir, "blob"), blob);
  sources = {
    digest,
    sizeBytes: blob.length,
    pieceBytes: PIECE,
    pieces: await hashPieces(join(dir, "blob"), { sizeBytes: blob.length, pieceBytes: PIECE }),
    peers: [],
  };
  consoleServer = createServer((req, res) => {
    if (req.headers.authorization !== "Bearer t") return void res.writeHead(401).end();
    if (req.url === agentBlobSourcesPath(digest)) {
      if (sourcesAnswer === 404) return void res.writeHead(404).end("no route");
      return void res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(sources));
    }
    if (req.url !== `/api/agent/images/${digest}`) return void res.writeHead(404).end();
    consoleRanges.push(req.headers.range ?? "");
    const range = req.headers.range ? parseRange(req.headers.range, blob.length) : null;
    if (!range) return void res.writeHead(200).end(blob);
    res.writeHead(206).end(blob.subarray(range.start, range.end + 1));
  });
  await new Promise<void>((resolve) => consoleServer.listen(0, SELF, () => resolve()));
  const address = consoleServer.address();
  if (address === null || typeof address === "string") throw new Error("no port");
  consoleUrl = `http://${SELF}:${address.port}`;
  for (const address of [PEER_A, PEER_B]) {
    const paths = await startPeer(address, { allowed: [SELF] });
    await writeFile(imagePathFor(paths, digest), blob);
  }
});

afterAll(async () => {
  for (const p of peers) await p.close();
  await new Promise<void>((resolve) => consoleServer.close(() => resolve()));
  await rm(dir, { recursive: true, force: true });
});

const holders = (...ips: string[]) => ips.map((formnetIp, i) => ({ nodeId: `n${i}`, formnetIp }));
let n = 0;
const dest = () => join(dir, "node", `t${++n}`, "blob.img");

/** Fetches the blob in pieces from these holders (the console last), with the peer problems said. */
async function fetchFrom(peerIps: string[], destPath = dest()) {
  const problems: string[] = [];
  const got = await downloadPieces({
    sources: { ...sources, peers: holders(...peerIps) },
    destPath,
    consoleUrl: `${consoleUrl}/api/agent/images/${digest}`,
    token: "t",
    localAddress: SELF,
    onPeerProblem: (peer, problem) => problems.push(`${peer}: ${problem}`),
  });
  return { got, problems, destPath };
}

describe("a node fetching an image from its peers", () => {
  it("takes every piece from the peers, none from the console", async () => {
    consoleRanges.length = 0;
    const { got, destPath } = await fetchFrom([PEER_A, PEER_B]);
    expect(got).toMatchObject({
      fromCache: false,
      peerBytes: blob.length,
      consoleBytes: 0,
      rejectedPieces: 0,
    });
    expect((await readFile(destPath)).equals(blob)).toBe(true);
    expect(consoleRanges).toEqual([]);
    await expect(stat(partialPath(destPath))).rejects.toThrow();
  });

  it("rejects a corrupt piece from a peer and fetches it elsewhere; the image verifies", async () => {
    const bad = "127.42.0.5";
    const paths = await startPeer(bad, { allowed: [SELF] });
    const corrupt = Buffer.from(blob);
    // Every piece rots, so whichever pieces start at this peer fail their check.
    for (let at = 17; at < corrupt.length; at += PIECE) corrupt[at] = (corrupt[at] ?? 0) ^ 0xff;
    await writeFile(imagePathFor(paths, digest), corrupt);
    const { got, problems, destPath } = await fetchFrom([bad, PEER_A]);
    expect(got.rejectedPieces).toBeGreaterThanOrEqual(1);
    expect(problems.join("\n")).toMatch(/piece \d failed its SHA-256 check: rejected, fetched elsewhere/);
    expect(got.peerBytes).toBe(blob.length);
    expect((await readFile(destPath)).equals(blob)).toBe(true);
  });

  it("falls back to the console when peers refuse, lack the blob or are unreachable", async () => {
    const stranger = "127.42.0.6";
    await startPeer(stranger, { allowed: ["10.9.9.9"] }); // holds it, but does not admit us
    await writeFile(imagePathFor(peerPaths.get(stranger) as TDataPaths, digest), blob);
    const empty = "127.42.0.7";
    await startPeer(empty, { allowed: [SELF] });
    consoleRanges.length = 0;
    const { got, problems, destPath } = await fetchFrom([stranger, empty, PEER_GONE]);
    expect(got).toMatchObject({ peerBytes: 0, consoleBytes: blob.length });
    expect(consoleRanges).toHaveLength(5);
    expect(consoleRanges.every((r) => /^bytes=\d+-\d+$/.test(r))).toBe(true);
    const text = problems.join("\n");
    expect(text).toContain("answered 403");
    expect(text).toContain("answered 404");
    expect(text).toMatch(/unreachable/);
    expect((await readFile(destPath)).equals(blob)).toBe(true);
  });

  it("asks a busy peer again for later pieces (503) instead of dropping it", async () => {
    const busy = "127.42.0.8";
    const paths = await startPeer(busy, { allowed: [SELF], maxStreams: 0 });
    await writeFile(imagePathFor(paths, digest), blob);
    const { got, problems } = await fetchFrom([busy, PEER_A]);
    expect(got.peerBytes).toBe(blob.length);
    // Every piece that started at the busy peer asked it: it was never dropped.
    expect(problems.filter((p) => p.includes("answered 503")).length).toBeGreaterThanOrEqual(2);
  });

  it("keeps the verified pieces of a cut-off download and fetches only the rest", async () => {
    const destPath = dest();
    await mkdir(join(destPath, ".."), { recursive: true });
    // Two whole pieces and a torn third from an earlier attempt.
    await writeFile(partialPath(destPath), blob.subarray(0, 2 * PIECE + 5000));
    const { got } = await fetchFrom([PEER_B], destPath);
    expect(got.fetchedBytes).toBe(blob.length - 2 * PIECE);
    expect((await readFile(destPath)).equals(blob)).toBe(true);
  });

  it("fetchBlob asks the console for sources, and takes the whole blob from it when it names none", async () => {
    consoleRanges.length = 0;
    const withSources = await fetchBlob({
      digest,
      destPath: dest(),
      consoleUrl,
      token: "t",
      localAddress: SELF,
    });
    expect(withSources.consoleBytes).toBe(blob.length);
    expect(consoleRanges).toHaveLength(5);
    sourcesAnswer = 404;
    try {
      consoleRanges.length = 0;
      const whole = await fetchBlob({ digest, destPath: dest(), consoleUrl, token: "t" });
      expect(whole).toMatchObject({ consoleBytes: blob.length, peerBytes: 0 });
      expect(consoleRanges).toEqual([""]);
    } finally {
      sourcesAnswer = 200;
    }
  });
});

describe("ranking the holders", () => {
  it("keeps those that hold the blob, nearest (fastest to answer) first", async () => {
    // A holder that answers its HEAD 300 ms late, as a far one would.
    const far = "127.42.0.9";
    const slow = createServer((_req, res) => {
      setTimeout(() => res.writeHead(200, { "content-length": blob.length }).end(), 300);
    });
    await new Promise<void>((resolve) => slow.listen(PEER_BLOB_PORT, far, () => resolve()));
    try {
      const problems: string[] = [];
      const ranked = await rankPeers({
        peers: holders(far, PEER_GONE, PEER_A),
        digest,
        sizeBytes: blob.length,
        localAddress: SELF,
        onPeerProblem: (peer, problem) => problems.push(`${peer}: ${problem}`),
      });
      expect(ranked.map((p) => p.formnetIp)).toEqual([PEER_A, far]);
      expect(problems.join("\n")).toMatch(/unreachable/);
      // A holder with another size is not holding this blob.
      const wrong = await rankPeers({
        peers: holders(PEER_A),
        digest,
        sizeBytes: blob.length + 1,
        localAddress: SELF,
      });
      expect(wrong).toEqual([]);
    } finally {
      await new Promise<void>((resolve) => slow.close(() => resolve()));
    }
  });
});

describe("PeerBlobServer", () => {
  const url = (ip: string, path = `/blobs/${digest}`) => `http://${ip}:${PEER_BLOB_PORT}${path}`;

  it("serves ranges and HEAD to admitted nodes, 416 outside the blob, 404 for what it lacks", async () => {
    const { request } = await import("node:http");
    const get = (path: string, headers: Record<string, string> = {}, method = "GET") =>
      new Promise<{ status: number; body: Buffer; headers: Record<string, unknown> }>((resolve, reject) => {
        const req = request(url(PEER_A, path), { method, headers, localAddress: SELF }, (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () =>
            resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), headers: res.headers }),
          );
        });
        req.on("error", reject);
        req.end();
      });
    const part = await get(`/blobs/${digest}`, { range: "bytes=10-19" });
    expect(part.status).toBe(206);
    expect(part.body.equals(blob.subarray(10, 20))).toBe(true);
    expect(part.headers["content-range"]).toBe(`bytes 10-19/${blob.length}`);
    expect((await get(`/blobs/${digest}`, {}, "HEAD")).headers["content-length"]).toBe(String(blob.length));
    const whole = await get(`/blobs/${digest}`);
    expect(whole.status).toBe(200);
    expect(whole.body.equals(blob)).toBe(true);
    expect((await get(`/blobs/${digest}`, { range: `bytes=${blob.length}-` })).status).toBe(416);
    expect((await get(`/blobs/sha256:${"0".repeat(64)}`)).status).toBe(404);
    expect((await get("/blobs/../../etc/passwd")).status).toBe(404);
    expect((await get(`/blobs/${digest}`, {}, "PUT")).status).toBe(405);
  });
});
