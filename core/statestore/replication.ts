import { WebSocket } from "ws";
import { wsBytes } from "@/core/ws-bytes";
import type { Logger } from "../log";
import type { TEnvelope } from "./envelope";
import {
  MAX_ENVELOPES_PER_MESSAGE,
  parseWireMessage,
  STORE_PROTOCOL_VERSION,
  type THeadsMessage,
  type TWireMessage,
} from "./wire";

/** What the transport needs from the store; kept narrow so the transport is testable on its own. */
export type TReplicaCore = {
  replica: string;
  logger: Logger;
  headsDigest(): string;
  headsMessage(keys?: readonly string[]): THeadsMessage;
  missingFor(msg: THeadsMessage): TEnvelope[];
  ingest(envelopes: readonly TEnvelope[], peer: PeerLink): Promise<void>;
  malformed(peer: string, detail: string): void;
};

/** One live connection to another replica, whichever side dialed. */
export class PeerLink {
  /** The peer's self-declared replica address once it said hello (used to label reports). */
  label: string;
  readonly ws: WebSocket;

  constructor(ws: WebSocket, label: string) {
    this.ws = ws;
    this.label = label;
  }

  send(msg: TWireMessage): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(msg));
  }

  sendEnvelopes(envelopes: readonly TEnvelope[]): void {
    for (let i = 0; i < envelopes.length; i += MAX_ENVELOPES_PER_MESSAGE) {
      this.send({ t: "changes", envelopes: envelopes.slice(i, i + MAX_ENVELOPES_PER_MESSAGE) });
    }
  }
}

export type Dialer = { readonly url: string; close(): void; isOpen(): boolean };

const MIN_BACKOFF_MS = 200;
const MAX_BACKOFF_MS = 10_000;
// Re-asking the same peer for the same document more often than this only duplicates traffic.
const REQUEST_INTERVAL_MS = 1_000;

/** Links, handshake, heads exchange, gossip and reconnecting dialers for one store. */
export class Replicator {
  readonly #core: TReplicaCore;
  readonly #links = new Set<PeerLink>();
  readonly #dialers = new Set<{ close(): void }>();
  readonly #lastRequest = new Map<string, number>();
  #closed = false;

  constructor(core: TReplicaCore) {
    this.#core = core;
  }

  handleConnection(ws: WebSocket, label = "peer"): PeerLink {
    const link = new PeerLink(ws, label);
    if (this.#closed) {
      ws.close(1001, "store closed");
      return link;
    }
    this.#links.add(link);
    ws.on("message", (data: Buffer | ArrayBuffer | Buffer[]) => this.#onMessage(link, data));
    ws.on("close", () => this.#links.delete(link));
    ws.on("error", (error) => this.#core.logger.debug({ peer: link.label, err: error }, "peer socket error"));
    link.send({
      t: "hello",
      v: STORE_PROTOCOL_VERSION,
      replica: this.#core.replica,
      digest: this.#core.headsDigest(),
    });
    return link;
  }

  #onMessage(link: PeerLink, data: Buffer | ArrayBuffer | Buffer[]): void {
    const raw = wsBytes(data);
    const msg = parseWireMessage(raw.toString("utf8"));
    if (!msg) {
      this.#core.malformed(link.label, `invalid message of ${raw.length} bytes`);
      return;
    }
    if (msg.t === "hello") {
      if (msg.v !== STORE_PROTOCOL_VERSION) {
        this.#core.malformed(link.label, `protocol ${msg.v}, expected ${STORE_PROTOCOL_VERSION}`);
        link.ws.close(4000, "protocol version mismatch");
        return;
      }
      if (/^0x[0-9a-f]{40}$/.test(msg.replica)) link.label = msg.replica;
      // Equal digests mean equal heads for every document: nothing to exchange.
      if (msg.digest !== this.#core.headsDigest()) link.send(this.#core.headsMessage());
    } else if (msg.t === "heads") {
      link.sendEnvelopes(this.#core.missingFor(msg));
    } else {
      this.#core.ingest(msg.envelopes, link).catch((error: unknown) => {
        this.#core.logger.error({ peer: link.label, err: error }, "ingest failed");
      });
    }
  }

  /** Gossips newly accepted envelopes to every link but the one they came from. */
  broadcast(envelopes: readonly TEnvelope[], except?: PeerLink): void {
    for (const link of this.#links) if (link !== except) link.sendEnvelopes(envelopes);
  }

  /** Sends our heads of `key` to `peer`, which answers with the changes we lack. */
  requestDoc(peer: PeerLink, key: string): void {
    const id = `${peer.label}|${key}`;
    const now = Date.now();
    if (now - (this.#lastRequest.get(id) ?? 0) < REQUEST_INTERVAL_MS) return;
    this.#lastRequest.set(id, now);
    peer.send(this.#core.headsMessage([key]));
  }

  /** Sends our full heads to every peer, so each answers with whatever we still lack. */
  resync(): void {
    const heads = this.#core.headsMessage();
    for (const link of this.#links) link.send(heads);
  }

  connect(url: string): Dialer {
    let ws: WebSocket | undefined;
    let timer: NodeJS.Timeout | undefined;
    let attempt = 0;
    let closed = false;
    const dial = () => {
      if (closed || this.#closed) return;
      const socket = new WebSocket(url);
      ws = socket;
      socket.on("open", () => {
        attempt = 0;
        this.handleConnection(socket, url);
      });
      socket.on("error", (error) => this.#core.logger.debug({ url, err: error }, "dial error"));
      socket.on("close", () => {
        if (closed || this.#closed) return;
        // Exponential backoff with jitter so restarted replicas are not hit by every peer at once.
        const delay = Math.min(MAX_BACKOFF_MS, MIN_BACKOFF_MS * 2 ** attempt) * (0.5 + Math.random() / 2);
        attempt += 1;
        timer = setTimeout(dial, delay);
      });
    };
    const dialer = {
      url,
      close: () => {
        closed = true;
        clearTimeout(timer);
        ws?.terminate();
        this.#dialers.delete(dialer);
      },
      isOpen: () => ws?.readyState === WebSocket.OPEN,
    };
    this.#dialers.add(dialer);
    dial();
    return dialer;
  }

  close(): void {
    this.#closed = true;
    for (const dialer of [...this.#dialers]) dialer.close();
    for (const link of this.#links) link.ws.terminate();
    this.#links.clear();
  }
}
