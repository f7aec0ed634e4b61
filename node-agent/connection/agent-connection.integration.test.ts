import type { AddressInfo } from "node:net";
import { privateKeyToAccount } from "viem/accounts";
import { afterEach, describe, expect, it } from "vitest";
import { type WebSocket, WebSocketServer } from "ws";
import { createLogger } from "@/core/log";
import {
  AGENT_WS_PATH,
  encodeMessage,
  PROTOCOL_VERSION,
  parseAgentMessage,
  type TAgentToConsole,
  type TConsoleToAgent,
} from "@/lib/protocol";
import { buildAgentChallenge, verifyAgentChallenge } from "@/lib/signing/agent-auth";
import { AgentConnection, type TSessionMessage } from "./agent-connection";

const account = privateKeyToAccount(`0x${"11".repeat(32)}`);
const wgKey = `${"A".repeat(42)}E=`;

/**
 * A minimal console gateway speaking the real protocol over a real WebSocket server: challenge,
 * verify the signed hello, welcome (or reject), then record everything the agent sends.
 */
class FakeGateway {
  readonly received: TAgentToConsole[] = [];
  readonly sockets: WebSocket[] = [];
  verified: boolean[] = [];
  mode: "welcome" | "reject" | "tooNew" = "welcome";
  #server: WebSocketServer;

  private constructor(server: WebSocketServer) {
    this.#server = server;
    server.on("connection", (socket, request) => this.#onConnection(socket, request.url ?? ""));
  }

  static async start(port = 0): Promise<FakeGateway> {
    const server = new WebSocketServer({ port, host: "127.0.0.1" });
    await new Promise<void>((resolve) => server.once("listening", () => resolve()));
    return new FakeGateway(server);
  }

  get port(): number {
    return (this.#server.address() as AddressInfo).port;
  }

  count(type: TAgentToConsole["type"]): number {
    return this.received.filter((m) => m.type === type).length;
  }

  send(message: TConsoleToAgent): void {
    for (const s of this.sockets) if (s.readyState === s.OPEN) s.send(encodeMessage(message));
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.terminate();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #onConnection(socket: WebSocket, path: string): void {
    if (path !== AGENT_WS_PATH) {
      socket.close(1008, "wrong path");
      return;
    }
    this.sockets.push(socket);
    const nonce = `nonce-${this.sockets.length}-abcdefghijklmnop`;
    const origin = `http://127.0.0.1:${this.port}`;
    const newer = this.mode === "tooNew";
    socket.send(
      encodeMessage({
        type: "challenge",
        nonce,
        origin,
        protocolVersion: newer ? PROTOCOL_VERSION + 5 : PROTOCOL_VERSION,
        minProtocolVersion: newer ? PROTOCOL_VERSION + 5 : 1,
      }),
    );
    socket.on("message", (data) => {
      this.#onFrame(socket, { data, nonce, origin }).catch((error: unknown) =>
        socket.close(1011, String(error)),
      );
    });
  }

  async #onFrame(socket: WebSocket, frame: { data: unknown; nonce: string; origin: string }): Promise<void> {
    const { data, nonce, origin } = frame;
    {
      const parsed = parseAgentMessage(data);
      if (!parsed.ok) throw new Error(parsed.error.message);
      this.received.push(parsed.message);
      if (parsed.message.type !== "hello") return;
      const hello = parsed.message;
      this.verified.push(
        await verifyAgentChallenge({
          nonce,
          origin,
          address: hello.operator as `0x${string}`,
          signature: hello.signature as `0x${string}`,
        }),
      );
      if (this.mode === "reject") {
        socket.send(
          encodeMessage({ type: "reject", reason: "forbidden", message: "operator not registered" }),
        );
        socket.close();
        return;
      }
      socket.send(
        encodeMessage({
          type: "welcome",
          nodeId: "node-1",
          heartbeatIntervalMs: 100,
          leaseMs: 5_000,
          agentToken: "t".repeat(32),
          formnet: { address: "10.42.0.2", cidr: "10.42.0.0/16" },
        }),
      );
    }
  }
}

let gateway: FakeGateway | undefined;
let connection: AgentConnection | undefined;
afterEach(async () => {
  await connection?.stop();
  await gateway?.close();
  connection = undefined;
  gateway = undefined;
});

function connect(port: number, extra: { rejectRetryMs?: number } = {}) {
  const messages: TSessionMessage[] = [];
  const conn = new AgentConnection({
    consoleUrl: `http://127.0.0.1:${port}`,
    logger: createLogger("test-connection"),
    backoff: { initialMs: 20, maxMs: 200 },
    rejectRetryMs: extra.rejectRetryMs ?? 60_000,
    hello: async (challenge) => ({
      type: "hello",
      protocolVersion: PROTOCOL_VERSION,
      agentVersion: "test",
      operator: account.address,
      signature: await account.signMessage({
        message: buildAgentChallenge(challenge.nonce, challenge.origin),
      }),
      node: {
        region: "test",
        capacity: { vcpu: 2, memoryMb: 2048, diskGb: 20 },
        accel: "tcg",
        formnet: { publicKey: wgKey, listenPort: 51820, endpoints: [] },
      },
      instances: [],
      jobs: [],
    }),
    heartbeat: async () => ({
      metrics: { cpuPct: 1, memUsedMb: 2, diskUsedGb: 3, netRx: 0, netTx: 0 },
      instances: [],
    }),
    onWelcome: () => {},
    onMessage: (message) => messages.push(message),
  });
  conn.start();
  return { conn, messages };
}

describe("AgentConnection against a real WebSocket gateway", () => {
  it("answers the challenge with a verifiable signature and then heartbeats", async () => {
    gateway = await FakeGateway.start();
    const { conn } = connect(gateway.port);
    connection = conn;
    await expect.poll(() => conn.state, { timeout: 5_000 }).toBe("connected");
    expect(gateway.verified).toEqual([true]);
    await expect.poll(() => gateway?.count("heartbeat"), { timeout: 5_000 }).toBeGreaterThanOrEqual(3);
    const seqs = gateway.received.flatMap((m) => (m.type === "heartbeat" ? [m.seq] : []));
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(conn.send({ type: "job.ack", jobId: "j1" })).toBe(true);
    await expect.poll(() => gateway?.count("job.ack")).toBe(1);
  });

  it("delivers session frames and redials after the console drops and comes back", async () => {
    gateway = await FakeGateway.start();
    const port = gateway.port;
    const { conn, messages } = connect(port);
    connection = conn;
    await expect.poll(() => conn.state, { timeout: 5_000 }).toBe("connected");
    gateway.send({ type: "job.cancel", jobId: "j9", reason: "user" });
    await expect.poll(() => messages.length).toBe(1);
    expect(messages[0]).toMatchObject({ type: "job.cancel", jobId: "j9" });

    await gateway.close();
    await expect.poll(() => conn.state).not.toBe("connected");
    expect(conn.send({ type: "job.ack", jobId: "j1" })).toBe(false);
    // `node-agent status` says why it is not connected, until it is again.
    await expect.poll(() => conn.problem).toMatch(/^(disconnected|cannot reach ws:\/\/)/);
    gateway = await FakeGateway.start(port);
    await expect.poll(() => conn.state, { timeout: 10_000 }).toBe("connected");
    expect(gateway.count("hello")).toBe(1);
    expect(conn.problem).toBeUndefined();
  });

  it("backs off for the reject delay after the console refuses the operator", async () => {
    gateway = await FakeGateway.start();
    gateway.mode = "reject";
    const { conn } = connect(gateway.port, { rejectRetryMs: 60_000 });
    connection = conn;
    await expect.poll(() => gateway?.count("hello"), { timeout: 5_000 }).toBe(1);
    await expect.poll(() => conn.state).toBe("waiting");
    // The base backoff is 20 ms; a reject must stretch the wait to the reject delay.
    expect(conn.lastRetryDelayMs).toBeGreaterThanOrEqual(60_000);
    expect(gateway.sockets.length).toBe(1);
    expect(conn.problem).toBe("the console rejected this agent (forbidden): operator not registered");
  });

  it("does not send hello to a console whose protocol it cannot speak", async () => {
    gateway = await FakeGateway.start();
    gateway.mode = "tooNew";
    const { conn } = connect(gateway.port);
    connection = conn;
    await expect.poll(() => conn.state, { timeout: 5_000 }).toBe("waiting");
    expect(gateway.count("hello")).toBe(0);
    expect(conn.lastRetryDelayMs).toBeGreaterThanOrEqual(60_000);
    expect(conn.problem).toBe("protocol version mismatch (agentTooOld): upgrade the node agent");
  });
});
