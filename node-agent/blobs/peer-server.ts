import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Logger } from "@/core/log";
import { PEER_BLOB_PORT, parseRange, ZDigest } from "@/lib/protocol";
import { imagePathFor, type TDataPaths } from "../config/paths";

/** Transfers a node serves at once; more get 503 and fetch the piece from another source. */
export const MAX_PEER_STREAMS = 16;

/**
 * Serves the blobs of this node's store to other formnet nodes (protocol 6), on TCP PEER_BLOB_PORT
 * of the node's formnet address only. Who may ask: a source address that is a formnet **node**
 * (from the console's peer list). WireGuard authenticates the source address (a packet from a
 * peer is accepted only for the addresses in that peer's allowed-ips), guests cannot open
 * connections out of their bridge, and laptops and instances are not nodes. What is served: files
 * of the store only, which are in the store because their digest verified; the fetching node checks
 * every piece against the console's hash anyway. Plain HTTP: WireGuard encrypts it.
 */
export class PeerBlobServer {
  readonly #paths: TDataPaths;
  readonly #log: Logger;
  readonly #maxStreams: number;
  readonly #port: number;
  #allowed = new Set<string>();
  #server: Server | undefined;
  #address: string | undefined;
  #streams = 0;

  constructor(options: { paths: TDataPaths; logger: Logger; maxStreams?: number; port?: number }) {
    this.#paths = options.paths;
    this.#log = options.logger;
    this.#maxStreams = options.maxStreams ?? MAX_PEER_STREAMS;
    this.#port = options.port ?? PEER_BLOB_PORT;
  }

  /** The formnet addresses of the nodes that may fetch (replaces the previous set). */
  setAllowedSources(addresses: Iterable<string>): void {
    this.#allowed = new Set(addresses);
  }

  /** Listens on `address` (this node's formnet address); a new address moves the listener. */
  async listen(address: string): Promise<void> {
    if (this.#server && this.#address === address) return;
    await this.close();
    const server = createServer((req, res) => {
      this.#handle(req, res).catch((error: unknown) => {
        this.#log.warn({ err: error }, "serving a blob to a peer failed");
        if (!res.headersSent) res.writeHead(500).end();
        else res.destroy();
      });
    });
    server.headersTimeout = 10_000;
    server.requestTimeout = 120_000;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.#port, address, () => {
        server.off("error", reject);
        resolve();
      });
    });
    this.#server = server;
    this.#address = address;
    this.#log.info({ address, port: this.#port }, "serving blobs to formnet nodes");
  }

  async close(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    this.#address = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const source = (req.socket.remoteAddress ?? "").replace(/^::ffff:/, "");
    if (!this.#allowed.has(source)) {
      this.#log.warn(
        { source, url: req.url?.slice(0, 200) },
        "blob request from a source that is not a formnet node",
      );
      res.writeHead(403, { "content-type": "text/plain" }).end("only formnet nodes may fetch blobs\n");
      return;
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD" }).end();
      return;
    }
    const digest = ZDigest.safeParse((req.url ?? "").replace(/^\/blobs\//, ""));
    if (!digest.success || !(req.url ?? "").startsWith("/blobs/")) {
      res.writeHead(404).end();
      return;
    }
    const path = imagePathFor(this.#paths, digest.data);
    const size = (await stat(path).catch(() => undefined))?.size;
    if (size === undefined) {
      res.writeHead(404).end();
      return;
    }
    if (req.method === "HEAD") {
      res.writeHead(200, { "content-length": size, "accept-ranges": "bytes" }).end();
      return;
    }
    const part = req.headers.range === undefined ? undefined : parseRange(req.headers.range, size);
    if (part === null) {
      res.writeHead(416, { "content-range": `bytes */${size}` }).end();
      return;
    }
    if (this.#streams >= this.#maxStreams) {
      res.writeHead(503, { "retry-after": "1" }).end();
      return;
    }
    this.#streams += 1;
    try {
      res.writeHead(part ? 206 : 200, {
        "content-type": "application/octet-stream",
        "content-length": part ? part.end - part.start + 1 : size,
        ...(part ? { "content-range": `bytes ${part.start}-${part.end}/${size}` } : {}),
      });
      const stream = createReadStream(path, part ?? { start: 0 });
      await new Promise<void>((resolve, reject) => {
        stream.on("error", reject);
        res.on("close", resolve);
        stream.pipe(res);
      });
      this.#log.debug({ source, digest: digest.data, bytes: stream.bytesRead }, "blob piece served");
    } finally {
      this.#streams -= 1;
    }
  }
}
