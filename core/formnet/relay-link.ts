import WebSocket from "ws";
import { wsBytes } from "@/core/ws-bytes";
import {
  decodeRelayDatagram,
  encodeRelayDatagram,
  parseRelayFrame,
  relayUrl,
  ZRelayServerFrame,
} from "@/lib/protocol/relay";
import { createLogger, type Logger } from "../log";
import type { TShimHost, TShimPort } from "./relay-shims";

export type TRelayLinkOptions = {
  consoleUrl: string;
  /** This member's WireGuard public key (the relay's address for it). */
  key: string;
  /** Credentials for the upgrade, fetched at every (re)connection (agent token, CLI read token). */
  headers: () => Promise<Record<string, string>>;
  shims: TShimHost;
  logger?: Logger;
};

/**
 * A member's connection to the console's formnet relay (`/ws/relay`): datagrams WireGuard sends
 * to a relayed peer's shim go up tagged with that peer's key; datagrams from a peer come down and
 * leave that peer's shim towards WireGuard. Reconnects with backoff; keeps a round-trip time to the
 * console from its pings.
 */
export class RelayLink {
  readonly #o: TRelayLinkOptions;
  readonly #log: Logger;
  readonly #shims = new Map<string, Promise<TShimPort>>();
  #ws: WebSocket | null = null;
  #ready = false;
  #stopped = false;
  #failures = 0;
  #timer: NodeJS.Timeout | undefined;
  #pinger: NodeJS.Timeout | undefined;
  #rttMs: number | null = null;
  #lastError: string | null = null;

  constructor(options: TRelayLinkOptions) {
    this.#o = options;
    this.#log = (options.logger ?? createLogger("formnet")).child({ part: "relay" });
  }

  /** Connected and accepted by the relay. */
  get up(): boolean {
    return this.#ready;
  }

  /** Round trip to the relay (the console), from the last ping; null before the first. */
  get rttMs(): number | null {
    return this.#rttMs;
  }

  get lastError(): string | null {
    return this.#lastError;
  }

  start(): void {
    this.#stopped = false;
    this.#connect();
  }

  /** The shim endpoint WireGuard should use to reach `peerKey` through the relay. */
  async endpointFor(peerKey: string): Promise<string> {
    let shim = this.#shims.get(peerKey);
    if (!shim) {
      shim = this.#o.shims.open(peerKey, (payload) => this.#up(peerKey, payload));
      this.#shims.set(peerKey, shim);
      shim.catch(() => this.#shims.delete(peerKey));
    }
    return (await shim).endpoint;
  }

  /** True when `endpoint` is one of this link's shims (the peer is relayed). */
  async isShim(endpoint: string | undefined): Promise<boolean> {
    if (!endpoint) return false;
    for (const shim of this.#shims.values()) {
      if ((await shim.catch(() => null))?.endpoint === endpoint) return true;
    }
    return false;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    clearInterval(this.#pinger);
    this.#ws?.close(1000, "stopping");
    this.#ws = null;
    for (const shim of this.#shims.values()) (await shim.catch(() => null))?.close();
    this.#shims.clear();
    await this.#o.shims.close();
  }

  #up(peerKey: string, payload: Uint8Array): void {
    const ws = this.#ws;
    // Like UDP: nothing is queued while the relay is away; WireGuard retransmits handshakes.
    if (!ws || !this.#ready || ws.readyState !== WebSocket.OPEN) return;
    ws.send(encodeRelayDatagram(peerKey, payload), { binary: true });
  }

  async #down(frame: Uint8Array): Promise<void> {
    const datagram = decodeRelayDatagram(frame);
    if (!datagram) return;
    // A peer we have no shim for yet (it relays to us first): open one, so its replies go back.
    await this.endpointFor(datagram.key);
    (await this.#shims.get(datagram.key))?.deliver(datagram.payload);
  }

  #connect(): void {
    if (this.#stopped) return;
    void this.#o
      .headers()
      .then((headers) => {
        if (this.#stopped) return;
        const ws = new WebSocket(relayUrl(this.#o.consoleUrl, this.#o.key), { headers });
        this.#ws = ws;
        ws.on("message", (data, isBinary) => {
          const bytes = wsBytes(data);
          if (isBinary) {
            void this.#down(bytes).catch((err: unknown) => this.#log.warn({ err }, "relay delivery failed"));
            return;
          }
          const frame = parseRelayFrame(ZRelayServerFrame, bytes.toString("utf8"));
          if (frame?.type === "ready") {
            this.#ready = true;
            this.#failures = 0;
            this.#lastError = null;
            this.#log.info("formnet relay connected");
            this.#ping(ws);
          } else if (frame?.type === "pong") {
            this.#rttMs = Date.now() - frame.t;
          } else if (frame?.type === "error") {
            this.#lastError = `${frame.code}: ${frame.message}`;
            this.#log.warn({ code: frame.code }, `formnet relay refused: ${frame.message}`);
          }
        });
        ws.on("close", () => this.#closed(ws));
        ws.on("error", (err) => {
          this.#lastError = err.message;
        });
      })
      .catch((err: unknown) => {
        this.#lastError = err instanceof Error ? err.message : String(err);
        this.#retry();
      });
  }

  #ping(ws: WebSocket): void {
    clearInterval(this.#pinger);
    const send = () => {
      if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: "ping", t: Date.now() }));
    };
    send();
    this.#pinger = setInterval(send, 10_000);
    this.#pinger.unref();
  }

  #closed(ws: WebSocket): void {
    if (this.#ws !== ws) return;
    this.#ws = null;
    this.#ready = false;
    clearInterval(this.#pinger);
    this.#retry();
  }

  #retry(): void {
    if (this.#stopped) return;
    const delay = Math.min(30_000, 500 * 2 ** Math.min(this.#failures, 6));
    this.#failures++;
    this.#timer = setTimeout(() => this.#connect(), delay);
    this.#timer.unref();
  }
}
