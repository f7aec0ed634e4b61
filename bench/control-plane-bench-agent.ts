/**
 * A minimal node agent for the control-plane benchmark: real WebSocket, real signed hello, real
 * heartbeats, acks and completions, but none of the bookkeeping of the test FakeAgent (it keeps no
 * frame history and does not parse `formnet.peers` lists, which at thousands of agents made the
 * bench process, not the console, the bottleneck). Offers are still validated with the protocol
 * schema so the measured path ends at a well-formed `job.offer`.
 */
import { randomBytes } from "node:crypto";
import type { LocalAccount } from "viem";
import { WebSocket } from "ws";
import {
  AGENT_WS_PATH,
  CAPABILITY_PEER_DELTAS,
  encodeMessage,
  PROTOCOL_VERSION,
  parseConsoleMessage,
  type TAgentToConsole,
} from "@/lib/protocol";
import { buildAgentChallenge } from "@/lib/signing/agent-auth";

export type TBenchAgentOptions = {
  url: string;
  account: Pick<LocalAccount, "address" | "signMessage">;
  /** Called with the job id when an offer arrives (before ack/complete are sent). */
  onOffer: (jobId: string) => void;
  /** Counters shared by all agents of the run. */
  counters: TBenchCounters;
  timeoutMs: number;
};

export type TBenchCounters = {
  heartbeats: number;
  peerFrames: number;
  peerBytes: number;
  offers: number;
};

const PEERS_PREFIX = '{"type":"formnet.peers"';

export class BenchAgent {
  readonly #o: TBenchAgentOptions;
  readonly #ws: WebSocket;
  nodeId = "";
  #seq = 0;
  #beat: NodeJS.Timeout | null = null;
  #phase: NodeJS.Timeout | null = null;

  private constructor(options: TBenchAgentOptions, welcomed: (error?: Error) => void) {
    this.#o = options;
    this.#ws = new WebSocket(`${options.url.replace(/^http/, "ws")}${AGENT_WS_PATH}`, {
      perMessageDeflate: false,
    });
    const timer = setTimeout(() => welcomed(new Error("no welcome in time")), options.timeoutMs);
    const done = (error?: Error) => {
      clearTimeout(timer);
      welcomed(error);
    };
    this.#ws.on("message", (data: Buffer) => {
      const text = data.toString("utf8");
      if (text.startsWith(PEERS_PREFIX)) {
        options.counters.peerFrames++;
        options.counters.peerBytes += data.length;
        return;
      }
      const parsed = parseConsoleMessage(text);
      if (!parsed.ok) return done(new Error(`malformed frame: ${parsed.error.message}`));
      const m = parsed.message;
      if (m.type === "job.offer") {
        options.counters.offers++;
        options.onOffer(m.jobId);
        this.#send({ type: "job.ack", jobId: m.jobId });
        this.#send({ type: "job.complete", jobId: m.jobId, result: { kind: "restart" } });
      } else if (m.type === "challenge") {
        void this.#hello(m.nonce, m.origin).catch((error: unknown) =>
          done(error instanceof Error ? error : new Error(String(error))),
        );
      } else if (m.type === "welcome") {
        this.nodeId = m.nodeId;
        // Real agents start at random moments; spread the beats instead of aligning them to joins.
        this.#phase = setTimeout(() => {
          this.#beat = setInterval(() => this.#heartbeat(), m.heartbeatIntervalMs);
        }, Math.random() * m.heartbeatIntervalMs);
        done();
      } else if (m.type === "reject") {
        done(new Error(`rejected: ${m.reason} ${m.message}`));
      }
    });
    this.#ws.on("close", () => {
      this.#stop();
      done(new Error("socket closed before welcome"));
    });
    this.#ws.on("error", () => undefined);
  }

  static connect(options: TBenchAgentOptions): Promise<BenchAgent> {
    return new Promise((resolve, reject) => {
      let settled = false;
      const agent: BenchAgent = new BenchAgent(options, (error) => {
        if (settled) return;
        settled = true;
        if (error) reject(error);
        else resolve(agent);
      });
    });
  }

  async #hello(nonce: string, origin: string): Promise<void> {
    const signature = await this.#o.account.signMessage({ message: buildAgentChallenge(nonce, origin) });
    this.#send({
      type: "hello",
      protocolVersion: PROTOCOL_VERSION,
      agentVersion: "bench-0.0.1",
      operator: this.#o.account.address,
      signature,
      node: {
        region: "bench",
        capacity: { vcpu: 4, memoryMb: 8192, diskGb: 100 },
        accel: "tcg",
        formnet: {
          publicKey: randomBytes(32).toString("base64"),
          listenPort: 51820,
          endpoints: ["127.0.0.1:51820"],
        },
      },
      instances: [],
      jobs: [],
      capabilities: [CAPABILITY_PEER_DELTAS],
    });
  }

  #heartbeat(): void {
    this.#o.counters.heartbeats++;
    this.#send({
      type: "heartbeat",
      seq: this.#seq++,
      metrics: { cpuPct: 5, memUsedMb: 512, diskUsedGb: 3, netRx: 10, netTx: 20 },
      instances: [],
    });
  }

  #send(message: TAgentToConsole): void {
    if (this.#ws.readyState === WebSocket.OPEN) this.#ws.send(encodeMessage(message));
  }

  #stop(): void {
    if (this.#phase) clearTimeout(this.#phase);
    if (this.#beat) clearInterval(this.#beat);
  }

  close(): Promise<void> {
    this.#stop();
    if (this.#ws.readyState === WebSocket.CLOSED) return Promise.resolve();
    const closed = new Promise<void>((resolve) => this.#ws.once("close", () => resolve()));
    this.#ws.terminate();
    return closed;
  }
}
