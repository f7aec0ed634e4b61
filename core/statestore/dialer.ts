import type { LocalAccount } from "viem";
import { WebSocket } from "ws";
import { z } from "zod";
import type { Logger } from "@/core/log";
import type { StateStore } from "@/core/statestore/store";
import { buildAgentChallenge } from "@/lib/signing/agent-auth";

// Same values as server/statestore/store-auth.ts (the agent does not import console code); the
// wiring integration test exercises both sides together.
export const STORE_CHALLENGE_PATH = "/api/statestore/challenge";
export const STORE_WS_PATH = "/ws/store";
const AUTH_HEADERS = {
  operator: "x-formation-operator",
  nonce: "x-formation-nonce",
  signature: "x-formation-signature",
} as const;

const ZChallenge = z.object({
  nonce: z.string().min(1).max(200),
  origin: z.string().min(1).max(500),
  console: z.string().regex(/^0x[0-9a-fA-F]{40}$/),
});

const MIN_BACKOFF_MS = 500;
const MAX_BACKOFF_MS = 30_000;
// Refused credentials will not improve by hammering: wait at least this long before retrying.
const REFUSED_BACKOFF_MS = 60_000;

export type TDialState = "idle" | "connecting" | "open" | "refused" | "closed";

/**
 * Keeps one authenticated link from this agent's replica to the console's `/ws/store`: fetch a
 * one-time nonce, answer the agent challenge with the operator key in the upgrade headers, then
 * hand the socket to the store. Redials with exponential backoff and jitter while the console is
 * away (the store keeps accepting local writes and syncs what was missed on reconnect).
 */
export class StoreDialer {
  readonly #consoleUrl: string;
  readonly #account: LocalAccount;
  readonly #store: StateStore;
  readonly #log: Logger;
  readonly #onConsole: (address: string) => boolean;
  readonly #onState: (state: TDialState, detail?: string) => void;
  #ws: WebSocket | undefined;
  #timer: NodeJS.Timeout | undefined;
  #attempt = 0;
  #closed = false;
  state: TDialState = "idle";

  constructor(opts: {
    consoleUrl: string;
    account: LocalAccount;
    store: StateStore;
    logger: Logger;
    /** Told the console's store address before each dial; false refuses to connect (pin mismatch). */
    onConsole: (address: string) => boolean;
    onState?: (state: TDialState, detail?: string) => void;
  }) {
    this.#consoleUrl = opts.consoleUrl.replace(/\/+$/, "");
    this.#account = opts.account;
    this.#store = opts.store;
    this.#log = opts.logger;
    this.#onConsole = opts.onConsole;
    this.#onState = opts.onState ?? (() => undefined);
  }

  start(): void {
    if (this.state !== "idle") return;
    void this.#dial();
  }

  isOpen(): boolean {
    return this.#ws?.readyState === WebSocket.OPEN;
  }

  close(): void {
    this.#set("closed");
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#ws?.terminate();
  }

  #set(state: TDialState, detail?: string): void {
    if (this.#closed) return;
    this.state = state;
    this.#onState(state, detail);
  }

  #retry(minMs = 0): void {
    if (this.#closed) return;
    const backoff = Math.min(MAX_BACKOFF_MS, MIN_BACKOFF_MS * 2 ** this.#attempt) * (0.5 + Math.random() / 2);
    this.#attempt += 1;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.#dial(), Math.max(minMs, backoff));
  }

  async #dial(): Promise<void> {
    if (this.#closed) return;
    this.#set("connecting");
    let headers: Record<string, string>;
    try {
      const res = await fetch(`${this.#consoleUrl}${STORE_CHALLENGE_PATH}`, {
        signal: AbortSignal.timeout(10_000),
      });
      if (!res.ok) throw new Error(`GET ${STORE_CHALLENGE_PATH} answered ${res.status}`);
      const challenge = ZChallenge.parse(await res.json());
      if (!this.#onConsole(challenge.console.toLowerCase())) {
        this.#set("refused", `console store key ${challenge.console} is not the pinned one`);
        this.#retry(REFUSED_BACKOFF_MS);
        return;
      }
      headers = {
        [AUTH_HEADERS.operator]: this.#account.address,
        [AUTH_HEADERS.nonce]: challenge.nonce,
        [AUTH_HEADERS.signature]: await this.#account.signMessage({
          message: buildAgentChallenge(challenge.nonce, challenge.origin),
        }),
      };
    } catch (error) {
      this.#log.debug({ err: error, console: this.#consoleUrl }, "store challenge failed");
      this.#retry();
      return;
    }
    if (this.#closed) return;
    const ws = new WebSocket(`${this.#consoleUrl.replace(/^http/, "ws")}${STORE_WS_PATH}`, { headers });
    this.#ws = ws;
    let refused = false;
    ws.on("unexpected-response", (_req, res) => {
      refused = res.statusCode === 401 || res.statusCode === 403;
      this.#log.warn({ status: res.statusCode }, "console refused this store replica");
      this.#set("refused", `HTTP ${res.statusCode}`);
      ws.terminate();
    });
    ws.on("open", () => {
      this.#attempt = 0;
      this.#set("open");
      this.#store.handleConnection(ws, this.#consoleUrl);
    });
    ws.on("error", (error) => this.#log.debug({ err: error }, "store link error"));
    ws.on("close", () => {
      if (this.#ws !== ws || this.#closed) return;
      if (!refused) this.#set("connecting");
      this.#retry(refused ? REFUSED_BACKOFF_MS : 0);
    });
  }
}
