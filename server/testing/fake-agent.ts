import { randomBytes } from "node:crypto";
import type { LocalAccount } from "viem";
import { WebSocket } from "ws";
import {
  AGENT_WS_PATH,
  CAPABILITY_PEER_DELTAS,
  encodeMessage,
  PROTOCOL_VERSION,
  parseConsoleMessage,
  serialReadRange,
  type TAgentToConsole,
  type TConsoleToAgent,
  type THello,
  type TInstanceStatus,
  type TMessageOf,
} from "@/lib/protocol";
import { buildAgentChallenge } from "@/lib/signing/agent-auth";

export type TWelcome = TMessageOf<TConsoleToAgent, "welcome">;
export type TOffer = TMessageOf<TConsoleToAgent, "job.offer">;

/** A random, well-formed WireGuard public key (base64 of 32 bytes). */
export function randomWgKey(): string {
  return randomBytes(32).toString("base64");
}

export type TFakeAgentOptions = {
  /** Console base URL (http://…); the agent dials ws://…/ws/agent. */
  url: string;
  account: Pick<LocalAccount, "address" | "signMessage">;
  wgPublicKey?: string;
  capacity?: { vcpu: number; memoryMb: number; diskGb: number };
  protocolVersion?: number;
  instances?: { instanceId: string; status: TInstanceStatus }[];
  jobs?: THello["jobs"];
  /** Override the signed text (to forge signatures in tests). */
  signText?: (challenge: { nonce: string; origin: string }) => string;
  /** `hello.capabilities` (default: peer deltas). */
  capabilities?: string[];
  /** Send heartbeats at the interval from `welcome` (default true). */
  heartbeats?: boolean;
  onOffer?: (offer: TOffer, agent: FakeAgent) => void | Promise<void>;
  /**
   * Serial console text of a hosted instance for `instance.serial.request` (default: a line naming
   * the instance). Return null to leave requests unanswered (console timeout tests). Instances
   * not in `instances` get `unknownInstance`.
   */
  serialLog?: (instanceId: string) => string | null;
};

/**
 * A lightweight node agent speaking the real protocol over a real WebSocket, for gateway tests
 * and benchmarks. It answers the challenge, records every frame it receives and heartbeats.
 */
export class FakeAgent {
  readonly received: TConsoleToAgent[] = [];
  readonly wgPublicKey: string;
  readonly #o: TFakeAgentOptions;
  readonly ws: WebSocket;
  welcome: TWelcome | null = null;
  closeCode: number | null = null;
  #seq = 0;
  #beat: NodeJS.Timeout | null = null;
  readonly #waiters = new Set<() => void>();
  /** Instance statuses reported in heartbeats. */
  readonly instances = new Map<string, TInstanceStatus>();
  /** Jobs listed in heartbeats (their leases are extended). */
  readonly runningJobs = new Set<string>();

  constructor(options: TFakeAgentOptions) {
    this.#o = options;
    this.wgPublicKey = options.wgPublicKey ?? randomWgKey();
    for (const i of options.instances ?? []) this.instances.set(i.instanceId, i.status);
    this.ws = new WebSocket(`${options.url.replace(/^http/, "ws")}${AGENT_WS_PATH}`);
    this.ws.on("message", (data) => void this.#onMessage(data));
    this.ws.on("close", (code) => {
      this.closeCode = code;
      this.#stopBeats();
      this.#notify();
    });
    this.ws.on("error", () => undefined);
  }

  /** Connects and resolves once welcomed; rejects with the reject frame otherwise. */
  static async connect(options: TFakeAgentOptions & { timeoutMs?: number }): Promise<FakeAgent> {
    const agent = new FakeAgent(options);
    await agent.waitFor((m) => m.type === "welcome" || m.type === "reject", options.timeoutMs ?? 10_000);
    if (!agent.welcome) throw new Error(`agent not welcomed: ${JSON.stringify(agent.received.at(-1))}`);
    return agent;
  }

  get nodeId(): string {
    if (!this.welcome) throw new Error("not welcomed");
    return this.welcome.nodeId;
  }

  async #onMessage(data: unknown): Promise<void> {
    const parsed = parseConsoleMessage(data);
    if (!parsed.ok) throw new Error(`console sent a malformed frame: ${parsed.error.message}`);
    const m = parsed.message;
    this.received.push(m);
    if (m.type === "challenge") {
      const text = this.#o.signText ? this.#o.signText(m) : buildAgentChallenge(m.nonce, m.origin);
      const signature = await this.#o.account.signMessage({ message: text });
      this.send({
        type: "hello",
        protocolVersion: this.#o.protocolVersion ?? PROTOCOL_VERSION,
        agentVersion: "fake-0.0.1",
        operator: this.#o.account.address,
        signature,
        node: {
          region: "test",
          capacity: this.#o.capacity ?? { vcpu: 4, memoryMb: 8192, diskGb: 100 },
          accel: "tcg",
          formnet: { publicKey: this.wgPublicKey, listenPort: 51820, endpoints: ["127.0.0.1:51820"] },
        },
        instances: [...this.instances].map(([instanceId, status]) => ({ instanceId, status })),
        jobs: this.#o.jobs ?? [],
        capabilities: this.#o.capabilities ?? [CAPABILITY_PEER_DELTAS],
      });
    } else if (m.type === "welcome") {
      this.welcome = m;
      if (this.#o.heartbeats ?? true) {
        this.#beat = setInterval(() => this.heartbeat(), m.heartbeatIntervalMs);
      }
    } else if (m.type === "job.offer" && this.#o.onOffer) {
      await this.#o.onOffer(m, this);
    } else if (m.type === "instance.serial.request") {
      this.#answerSerial(m);
    }
    this.#notify();
  }

  #answerSerial(m: TMessageOf<TConsoleToAgent, "instance.serial.request">): void {
    const base = { type: "instance.serial.reply", requestId: m.requestId, instanceId: m.instanceId } as const;
    if (!this.instances.has(m.instanceId)) {
      this.send({
        ...base,
        data: "",
        offset: 0,
        end: 0,
        size: 0,
        error: { code: "unknownInstance", message: `${m.instanceId} is not hosted here` },
      });
      return;
    }
    const text = this.#o.serialLog ? this.#o.serialLog(m.instanceId) : `serial console of ${m.instanceId}\n`;
    if (text === null) return;
    // ASCII test logs: bytes and characters coincide.
    const { start, length } = serialReadRange({ size: text.length, maxBytes: m.maxBytes, offset: m.offset });
    this.send({
      ...base,
      data: text.slice(start, start + length),
      offset: start,
      end: start + length,
      size: text.length,
    });
  }

  #notify(): void {
    for (const w of this.#waiters) w();
  }

  send(message: TAgentToConsole): void {
    this.ws.send(encodeMessage(message));
  }

  sendRaw(text: string): void {
    this.ws.send(text);
  }

  heartbeat(): void {
    if (this.ws.readyState !== WebSocket.OPEN) return;
    this.send({
      type: "heartbeat",
      seq: this.#seq++,
      metrics: { cpuPct: 5, memUsedMb: 512, diskUsedGb: 3, netRx: 10, netTx: 20 },
      instances: [...this.instances].map(([instanceId, status]) => ({
        instanceId,
        status,
        metrics: { cpuPct: 1, memUsedMb: 100, diskUsedGb: 1, netRx: 0, netTx: 0 },
      })),
      jobs: [...this.runningJobs],
    });
  }

  /** Waits until a received frame satisfies `match` (checks frames already received too). */
  waitFor<T extends TConsoleToAgent>(match: (m: TConsoleToAgent) => m is T, timeoutMs?: number): Promise<T>;
  waitFor(match: (m: TConsoleToAgent) => boolean, timeoutMs?: number): Promise<TConsoleToAgent>;
  waitFor(match: (m: TConsoleToAgent) => boolean, timeoutMs = 10_000): Promise<TConsoleToAgent> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const found = this.received.find(match);
        if (found) {
          done();
          resolve(found);
        } else if (this.closeCode !== null) {
          done();
          reject(new Error(`socket closed (${this.closeCode}) before the expected frame`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(
          new Error(
            `timed out after ${timeoutMs} ms; received: ${this.received.map((m) => m.type).join(",")}`,
          ),
        );
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.#waiters.delete(check);
      };
      this.#waiters.add(check);
      check();
    });
  }

  /** Waits for an offer (optionally of a kind) not seen by an earlier call. */
  async nextOffer(kind?: string, timeoutMs = 10_000): Promise<TOffer> {
    const seen = this.#offersTaken;
    const offer = await this.waitFor(
      (m): m is TOffer => m.type === "job.offer" && !seen.has(m) && (kind === undefined || m.kind === kind),
      timeoutMs,
    );
    seen.add(offer);
    return offer;
  }
  readonly #offersTaken = new Set<TConsoleToAgent>();

  #stopBeats(): void {
    if (this.#beat) clearInterval(this.#beat);
    this.#beat = null;
  }

  /** Closes the socket and waits for the close. */
  async close(): Promise<void> {
    this.#stopBeats();
    if (this.closeCode !== null) return;
    const closed = new Promise<void>((resolve) => this.ws.once("close", () => resolve()));
    this.ws.close();
    await closed;
  }

  /** Drops the connection abruptly (no close handshake), like a crashed host. */
  async kill(): Promise<void> {
    this.#stopBeats();
    if (this.closeCode !== null) return;
    const closed = new Promise<void>((resolve) => this.ws.once("close", () => resolve()));
    this.ws.terminate();
    await closed;
  }
}

/** Polls `check` until it returns a truthy value or the deadline passes. */
export async function eventually<T>(
  check: () => Promise<T | null | undefined | false> | T | null | undefined | false,
  opts: { timeoutMs?: number; intervalMs?: number; what?: string } = {},
): Promise<T> {
  const deadline = Date.now() + (opts.timeoutMs ?? 10_000);
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${opts.what ?? "condition"}${last ? `: ${String(last)}` : ""}`);
    }
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 25));
  }
}
