import { randomBytes } from "node:crypto";
import type { WebSocket } from "ws";
import type { Logger } from "@/core/log";
import {
  checkAgentVersion,
  encodeMessage,
  MIN_SUPPORTED_PROTOCOL_VERSION,
  PROTOCOL_VERSION,
  parseAgentMessage,
  type TAgentToConsole,
  type TConsoleToAgent,
  type THello,
  type TMessageOf,
  type TRejectReason,
} from "@/lib/protocol";
import { verifyAgentChallenge } from "@/lib/signing/agent-auth";

/** What the connection needs from the control plane; implemented in control-plane.ts. */
export interface AgentSessionHandler {
  /** Admission (allow-list or contract). */
  isAdmitted(operator: string): Promise<boolean>;
  /** Registers the node; returns the welcome fields or a rejection. */
  register(
    hello: THello,
    connection: AgentConnection,
  ): Promise<
    | { ok: true; nodeId: string; formnet: { address: string; cidr: string }; agentToken: string }
    | { ok: false; reason: TRejectReason; message: string }
  >;
  /** Runs after `welcome` was sent: adopt jobs and instances, push peers, offer work. */
  welcomed(hello: THello, connection: AgentConnection): Promise<void>;
  /** Handles a post-handshake frame; returns an error frame to send back, if any. */
  handle(
    message: TAgentToConsole,
    connection: AgentConnection,
  ): Promise<TMessageOf<TConsoleToAgent, "error"> | null>;
  closed(connection: AgentConnection): Promise<void>;
}

export type TConnectionOptions = {
  socket: WebSocket;
  /** Where the agent's connection came from (its NAT's public address, for formnet endpoints). */
  remoteAddress?: string | undefined;
  origin: string;
  handler: AgentSessionHandler;
  log: Logger;
  heartbeatIntervalMs: number;
  leaseMs: number;
  handshakeTimeoutMs: number;
  /** Malformed frames tolerated before the console closes the socket (policy violation). */
  maxMalformed: number;
};

/** WebSocket close codes used by the gateway (4000–4999 are application-defined). */
export const CLOSE = { rejected: 4001, replaced: 4002, handshakeTimeout: 4003, abuse: 1008, shutdown: 1001 };

/**
 * One agent socket: challenge → hello (version, signature, admission) → welcome, then frames are
 * validated and handled strictly in arrival order (an ack must be applied before the completion
 * that follows it).
 */
export class AgentConnection {
  readonly #o: TConnectionOptions;
  readonly nonce = randomBytes(24).toString("hex");
  nodeId: string | null = null;
  /** Protocol version the agent said in hello (0 before the handshake). */
  protocolVersion = 0;
  /** `hello.capabilities` of the agent. */
  capabilities: ReadonlySet<string> = new Set();
  /** Build and boot jobs the agent runs at once (`hello.node.jobSlots`); null when it did not say. */
  jobSlots: number | null = null;
  operator: string | null = null;
  log: Logger;
  malformed = 0;
  #queue: Promise<void> = Promise.resolve();
  #handshakeTimer: NodeJS.Timeout | null;
  #closed = false;
  readonly #ended: Promise<void>;
  #end: () => void = () => undefined;

  get remoteAddress(): string | undefined {
    return this.#o.remoteAddress;
  }

  constructor(options: TConnectionOptions) {
    this.#o = options;
    this.#ended = new Promise((resolve) => {
      this.#end = resolve;
    });
    this.log = options.log;
    options.socket.on("message", (data) => {
      this.#queue = this.#queue
        .then(() => this.#onFrame(data))
        .catch((error: unknown) => {
          this.log.error({ err: error }, "agent frame handler failed");
        });
    });
    options.socket.on("close", () => {
      this.#closed = true;
      if (this.#handshakeTimer) clearTimeout(this.#handshakeTimer);
      this.#queue = this.#queue
        .then(() => options.handler.closed(this))
        .catch((error: unknown) => {
          this.log.error({ err: error }, "agent close handler failed");
        })
        .finally(() => this.#end());
    });
    options.socket.on("error", (error) => this.log.warn({ err: error }, "agent socket error"));
    this.#handshakeTimer = setTimeout(() => {
      this.#handshakeTimer = null;
      this.close(CLOSE.handshakeTimeout, "no hello within the handshake timeout");
    }, options.handshakeTimeoutMs);
    this.send({
      type: "challenge",
      nonce: this.nonce,
      origin: options.origin,
      protocolVersion: PROTOCOL_VERSION,
      minProtocolVersion: MIN_SUPPORTED_PROTOCOL_VERSION,
    });
  }

  get isOpen(): boolean {
    return !this.#closed && this.#o.socket.readyState === this.#o.socket.OPEN;
  }

  /** Sends a frame; false when the socket is not open. */
  send(message: TConsoleToAgent): boolean {
    if (!this.isOpen) return false;
    this.#o.socket.send(encodeMessage(message));
    return true;
  }

  /** Sends a frame already encoded with `encodeMessage` (one encoding shared by many sockets). */
  sendEncoded(text: string): boolean {
    if (!this.isOpen) return false;
    this.#o.socket.send(text);
    return true;
  }

  close(code: number, reason: string): void {
    if (this.#closed) return;
    this.#o.socket.close(code, reason.slice(0, 120));
  }

  /** Resolves when every frame received so far has been handled (tests, shutdown). */
  settled(): Promise<void> {
    return this.#queue;
  }

  /**
   * Resolves once the socket has closed and the close handler (its database writes) has run.
   * With `graceMs`, a socket still open that long after the call is dropped.
   */
  ended(graceMs?: number): Promise<void> {
    if (graceMs === undefined) return this.#ended;
    const timer = setTimeout(() => this.#o.socket.terminate(), graceMs);
    return this.#ended.finally(() => clearTimeout(timer));
  }

  #reject(reason: TRejectReason, message: string): void {
    this.log.info({ reason }, `agent rejected: ${message}`);
    this.send({ type: "reject", reason, message });
    this.close(CLOSE.rejected, reason);
  }

  async #onFrame(data: unknown): Promise<void> {
    if (this.#closed) return;
    const parsed = parseAgentMessage(data);
    if (this.nodeId === null) {
      await this.#onHandshakeFrame(parsed);
      return;
    }
    if (!parsed.ok) {
      this.malformed++;
      this.send({
        type: "error",
        code: "malformed",
        message: parsed.error.message,
        ...inReplyTo(parsed.error.type),
      });
      if (this.malformed >= this.#o.maxMalformed) {
        this.close(CLOSE.abuse, `${this.malformed} malformed frames`);
      }
      return;
    }
    if (parsed.message.type === "hello") {
      this.send({ type: "error", code: "unexpected", message: "already welcomed", inReplyTo: "hello" });
      return;
    }
    const error = await this.#o.handler.handle(parsed.message, this);
    if (error) this.send(error);
  }

  async #onHandshakeFrame(parsed: ReturnType<typeof parseAgentMessage>): Promise<void> {
    if (this.#handshakeTimer) clearTimeout(this.#handshakeTimer);
    this.#handshakeTimer = null;
    if (!parsed.ok) return this.#reject("malformed", parsed.error.message);
    const hello = parsed.message;
    if (hello.type !== "hello") return this.#reject("malformed", `expected hello, got ${hello.type}`);
    const mismatch = checkAgentVersion(hello.protocolVersion);
    if (mismatch) {
      const range = `${MIN_SUPPORTED_PROTOCOL_VERSION}..${PROTOCOL_VERSION}`;
      return this.#reject(
        mismatch,
        mismatch === "agentTooOld"
          ? `agent speaks protocol ${hello.protocolVersion}; this console needs ${range}: upgrade the node agent`
          : `agent speaks protocol ${hello.protocolVersion}; this console only knows ${range}: upgrade the console`,
      );
    }
    const verified = await verifyAgentChallenge({
      nonce: this.nonce,
      origin: this.#o.origin,
      address: hello.operator as `0x${string}`,
      signature: hello.signature as `0x${string}`,
    });
    if (!verified)
      return this.#reject("forbidden", "signature does not match the operator address and challenge");
    const operator = hello.operator.toLowerCase();
    if (!(await this.#o.handler.isAdmitted(operator))) {
      return this.#reject(
        "forbidden",
        `operator ${operator} is not admitted: it is not registered on the orchestration contract nor allow-listed here — register it (\`node-agent init\` with the chain RPC URL and contract address, then restart the agent) or ask the console's operator to add it to FORMATION_AGENT_ALLOWLIST`,
      );
    }
    // What the agent announced is known before the socket is registered: the scheduler may offer
    // it work as soon as it is.
    this.capabilities = new Set(hello.capabilities ?? []);
    this.jobSlots = hello.node.jobSlots ?? null;
    this.protocolVersion = hello.protocolVersion;
    const registered = await this.#o.handler.register(hello, this);
    if (!registered.ok) return this.#reject(registered.reason, registered.message);
    this.nodeId = registered.nodeId;
    this.operator = operator;
    this.log = this.log.child({ nodeId: registered.nodeId, operator });
    this.send({
      type: "welcome",
      nodeId: registered.nodeId,
      heartbeatIntervalMs: this.#o.heartbeatIntervalMs,
      leaseMs: this.#o.leaseMs,
      agentToken: registered.agentToken,
      formnet: registered.formnet,
    });
    this.log.info({ agentVersion: hello.agentVersion, region: hello.node.region }, "agent welcomed");
    await this.#o.handler.welcomed(hello, this);
  }
}

function inReplyTo(type: string | undefined): { inReplyTo?: string } {
  return type === undefined ? {} : { inReplyTo: type };
}
