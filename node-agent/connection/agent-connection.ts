import WebSocket from "ws";
import type { Logger } from "@/core/log";
import {
  AGENT_WS_PATH,
  checkConsoleVersion,
  encodeMessage,
  parseConsoleMessage,
  type TAgentToConsole,
  type TConsoleToAgent,
  type THello,
  type TMessageOf,
} from "@/lib/protocol";
import { Backoff, type TBackoffOptions } from "./backoff";

export type TChallenge = TMessageOf<TConsoleToAgent, "challenge">;
export type TWelcome = TMessageOf<TConsoleToAgent, "welcome">;
export type TReject = TMessageOf<TConsoleToAgent, "reject">;
export type THeartbeatBody = Omit<TMessageOf<TAgentToConsole, "heartbeat">, "type" | "seq">;
/** Frames delivered to the agent once the handshake is done. */
export type TSessionMessage = Exclude<TConsoleToAgent, TChallenge | TWelcome | TReject>;

export type TConnectionState = "idle" | "connecting" | "handshaking" | "connected" | "waiting" | "stopped";

export interface TAgentConnectionOptions {
  /** Console base URL (`http(s)://host:port`); the agent dials `ws(s)://…/ws/agent`. */
  consoleUrl: string;
  logger: Logger;
  /** Build the signed `hello` for a challenge (the agent owns the key and its inventory). */
  hello: (challenge: TChallenge) => Promise<THello>;
  heartbeat: () => Promise<THeartbeatBody>;
  onWelcome: (welcome: TWelcome) => Promise<void> | void;
  onMessage: (message: TSessionMessage) => void;
  /** Called when a session ends, whatever the reason. */
  onDisconnect?: (reason: string) => void;
  backoff?: TBackoffOptions;
  /** Wait at least this long before retrying after a `reject` or a version mismatch. */
  rejectRetryMs?: number;
  handshakeTimeoutMs?: number;
}

/**
 * The agent's only link to the console: it dials out (operators behind NAT need no open port),
 * answers the challenge, then keeps the session alive with heartbeats and WebSocket pings. When
 * the session drops it redials forever with jittered exponential backoff; the agent's VMs and jobs
 * are unaffected by an outage.
 */
export class AgentConnection {
  readonly #options: TAgentConnectionOptions;
  readonly #backoff: Backoff;
  readonly #url: string;
  #state: TConnectionState = "idle";
  #socket: WebSocket | undefined;
  #retryTimer: NodeJS.Timeout | undefined;
  #heartbeatTimer: NodeJS.Timeout | undefined;
  #handshakeTimer: NodeJS.Timeout | undefined;
  #seq = 0;
  #lastHeard = 0;
  #welcome: TWelcome | undefined;
  /** Set when the console refused us, so the next retry waits long enough to matter. */
  #rejected = false;
  #lastRetryDelayMs = 0;
  /** Why the agent is not connected (the console's refusal, or the dial's error); none once welcomed. */
  #problem: string | undefined;

  constructor(options: TAgentConnectionOptions) {
    this.#options = options;
    this.#backoff = new Backoff(options.backoff);
    const url = new URL(AGENT_WS_PATH, options.consoleUrl);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    this.#url = url.toString();
  }

  get state(): TConnectionState {
    return this.#state;
  }

  /** Why the last attempt to reach the console failed; undefined while connected. */
  get problem(): string | undefined {
    return this.#problem;
  }

  /** Delay chosen before the most recent redial (for status output and tests). */
  get lastRetryDelayMs(): number {
    return this.#lastRetryDelayMs;
  }

  /** The current session's `welcome`, or undefined when not connected. */
  get welcome(): TWelcome | undefined {
    return this.#state === "connected" ? this.#welcome : undefined;
  }

  start(): void {
    if (this.#state !== "idle") return;
    this.#dial();
  }

  /** Close the session and stop redialling. */
  async stop(): Promise<void> {
    this.#state = "stopped";
    clearTimeout(this.#retryTimer);
    this.#clearSessionTimers();
    const socket = this.#socket;
    if (!socket || socket.readyState === WebSocket.CLOSED) return;
    await new Promise<void>((resolve) => {
      const force = setTimeout(() => socket.terminate(), 2_000);
      socket.once("close", () => {
        clearTimeout(force);
        resolve();
      });
      socket.close(1001, "agent stopping");
    });
  }

  /** Send a frame on the live session; false when there is none (the caller keeps the outcome). */
  send(message: TAgentToConsole): boolean {
    const socket = this.#socket;
    if (this.#state !== "connected" || !socket || socket.readyState !== WebSocket.OPEN) return false;
    socket.send(encodeMessage(message));
    return true;
  }

  #dial(): void {
    if (this.#state === "stopped") return;
    this.#state = "connecting";
    this.#welcome = undefined;
    const log = this.#options.logger;
    log.debug({ url: this.#url }, "dialling console");
    const socket = new WebSocket(this.#url, { handshakeTimeout: this.#options.handshakeTimeoutMs ?? 10_000 });
    this.#socket = socket;
    let endReason = "closed";
    socket.on("open", () => {
      this.#state = "handshaking";
      this.#touch();
      this.#handshakeTimer = setTimeout(() => {
        endReason = "no challenge/welcome in time";
        socket.terminate();
      }, this.#options.handshakeTimeoutMs ?? 10_000);
    });
    socket.on("pong", () => this.#touch());
    socket.on("message", (data) => {
      this.#touch();
      this.#onFrame(socket, data).catch((error: unknown) => {
        endReason = error instanceof Error ? error.message : String(error);
        log.error({ err: error }, "session error; reconnecting");
        socket.terminate();
      });
    });
    socket.on("error", (error) => {
      endReason = error.message;
    });
    socket.on("close", (code, reason) => {
      const text = reason.toString() || endReason;
      if (this.#socket === socket) this.#socket = undefined;
      const wasConnected = this.#state === "connected";
      this.#clearSessionTimers();
      if (wasConnected) log.warn({ code, reason: text }, "disconnected from console");
      else log.info({ code, reason: text, url: this.#url }, "cannot reach console");
      // A refusal already said why (and keeps saying it until a welcome).
      if (!this.#rejected)
        this.#problem = wasConnected
          ? `disconnected: ${text || `code ${code}`}`
          : `cannot reach ${this.#url}: ${text || `code ${code}`}`;
      this.#options.onDisconnect?.(text);
      this.#scheduleRedial();
    });
  }

  #scheduleRedial(): void {
    if (this.#state === "stopped") return;
    this.#state = "waiting";
    let delay = this.#backoff.next();
    if (this.#rejected) delay = Math.max(delay, this.#options.rejectRetryMs ?? 60_000);
    this.#rejected = false;
    this.#lastRetryDelayMs = delay;
    this.#options.logger.debug({ delayMs: delay, attempt: this.#backoff.attempt }, "redial scheduled");
    this.#retryTimer = setTimeout(() => this.#dial(), delay);
  }

  async #onFrame(socket: WebSocket, data: WebSocket.RawData): Promise<void> {
    const parsed = parseConsoleMessage(data);
    const log = this.#options.logger;
    if (!parsed.ok) {
      // A frame we cannot read is the console's bug or a newer console; say so and carry on.
      log.warn({ error: parsed.error }, "ignoring malformed frame from console");
      return;
    }
    const message = parsed.message;
    switch (message.type) {
      case "challenge":
        return this.#onChallenge(socket, message);
      case "welcome":
        return this.#onWelcome(socket, message);
      case "reject":
        this.#rejected = true;
        this.#problem = `the console rejected this agent (${message.reason}): ${message.message}`;
        log.error({ reason: message.reason, message: message.message }, "console rejected this agent");
        socket.close(1000, `rejected: ${message.reason}`);
        return;
      default:
        if (this.#state !== "connected") {
          log.warn({ type: message.type }, "frame before welcome ignored");
          return;
        }
        this.#options.onMessage(message);
    }
  }

  async #onChallenge(socket: WebSocket, challenge: TChallenge): Promise<void> {
    const mismatch = checkConsoleVersion(challenge);
    if (mismatch) {
      this.#rejected = true;
      const advice = mismatch === "agentTooOld" ? "upgrade the node agent" : "the console must be upgraded";
      this.#problem = `protocol version mismatch (${mismatch}): ${advice}`;
      this.#options.logger.error(
        { mismatch, consoleVersion: challenge.protocolVersion, consoleMin: challenge.minProtocolVersion },
        `protocol version mismatch: ${advice}`,
      );
      socket.close(1000, mismatch);
      return;
    }
    const hello = await this.#options.hello(challenge);
    if (socket.readyState === WebSocket.OPEN) socket.send(encodeMessage(hello));
  }

  async #onWelcome(socket: WebSocket, welcome: TWelcome): Promise<void> {
    clearTimeout(this.#handshakeTimer);
    this.#welcome = welcome;
    this.#state = "connected";
    this.#problem = undefined;
    this.#backoff.reset();
    this.#options.logger.info({ nodeId: welcome.nodeId, url: this.#url }, "connected to console");
    this.#startHeartbeats(socket, welcome.heartbeatIntervalMs);
    await this.#options.onWelcome(welcome);
  }

  #startHeartbeats(socket: WebSocket, intervalMs: number): void {
    const beat = async () => {
      // Three silent intervals mean the path is dead even if TCP has not noticed yet.
      if (Date.now() - this.#lastHeard > intervalMs * 3) {
        this.#options.logger.warn("console silent for three heartbeat intervals; reconnecting");
        socket.terminate();
        return;
      }
      socket.ping();
      const body = await this.#options.heartbeat();
      this.#seq += 1;
      this.send({ type: "heartbeat", seq: this.#seq, ...body });
    };
    const tick = () => {
      beat().catch((error: unknown) => this.#options.logger.error({ err: error }, "heartbeat failed"));
    };
    tick();
    this.#heartbeatTimer = setInterval(tick, intervalMs);
  }

  #touch(): void {
    this.#lastHeard = Date.now();
  }

  #clearSessionTimers(): void {
    clearInterval(this.#heartbeatTimer);
    clearTimeout(this.#handshakeTimer);
    this.#heartbeatTimer = undefined;
    this.#handshakeTimer = undefined;
  }
}
