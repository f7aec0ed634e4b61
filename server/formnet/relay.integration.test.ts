import { randomBytes } from "node:crypto";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import {
  decodeRelayDatagram,
  encodeRelayDatagram,
  relayUrl,
  type TRelayServerFrame,
} from "@/lib/protocol/relay";
import { createReadAuthorization } from "@/lib/signing/client-auth";
import { signAction } from "@/lib/signing/sign-action";
import { callTrpc, TEST_CONSOLE_ORIGIN } from "@/server/http/testing";
import { FakeAgent, randomWgKey } from "@/server/testing/fake-agent";
import { startTestPlatform, type TTestPlatform } from "@/server/testing/platform";
import { consoleFormnetModule } from "./module";

// The formnet relay (/ws/relay) on a real console: who may connect, and that it forwards only
// WireGuard-shaped datagrams, byte for byte (it holds no key, so ciphertext stays ciphertext),
// between members that may talk. Real HTTP/WebSocket, real SQLite, a fake agent on the real protocol.

const operator = privateKeyToAccount(generatePrivateKey());
const owner = privateKeyToAccount(generatePrivateKey());
const other = privateKeyToAccount(generatePrivateKey());
let platform: TTestPlatform;
let agent: FakeAgent;
const open: RelayClient[] = [];

/** A relay connection that records binary frames and control frames in arrival order. */
class RelayClient {
  readonly datagrams: Array<{ key: string; payload: Buffer }> = [];
  readonly control: TRelayServerFrame[] = [];
  closeCode: number | null = null;
  readonly #waiters = new Set<() => void>();

  constructor(readonly ws: WebSocket) {
    ws.on("message", (data: Buffer, isBinary: boolean) => {
      if (isBinary) {
        const d = decodeRelayDatagram(new Uint8Array(data));
        if (d) this.datagrams.push({ key: d.key, payload: Buffer.from(d.payload) });
      } else this.control.push(JSON.parse(data.toString("utf8")) as TRelayServerFrame);
      for (const w of this.#waiters) w();
    });
    ws.on("close", (code) => {
      this.closeCode = code;
      for (const w of this.#waiters) w();
    });
    ws.on("error", () => undefined);
  }

  static connect(key: string, authorization: string | null): RelayClient {
    const headers = authorization ? { authorization } : undefined;
    const client = new RelayClient(new WebSocket(relayUrl(platform.url, key), { headers }));
    open.push(client);
    return client;
  }

  until<T>(what: string, probe: () => T | undefined): Promise<T> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const value = probe();
        if (value !== undefined) {
          this.#waiters.delete(check);
          clearTimeout(timer);
          resolve(value);
        } else if (this.closeCode !== null) {
          this.#waiters.delete(check);
          clearTimeout(timer);
          reject(new Error(`${what}: the relay closed the connection (${this.closeCode})`));
        }
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(check);
        reject(new Error(`${what}: timed out`));
      }, 10_000);
      this.#waiters.add(check);
      check();
    });
  }

  ready(): Promise<TRelayServerFrame> {
    return this.until("ready", () => this.control.find((f) => f.type === "ready"));
  }

  /** The error frame and close code of a refused connection. */
  async refused(): Promise<{ frame: TRelayServerFrame | undefined; code: number }> {
    await new Promise<void>((resolve) => {
      if (this.closeCode !== null) resolve();
      else this.ws.once("close", () => resolve());
    });
    return { frame: this.control.find((f) => f.type === "error"), code: this.closeCode ?? 0 };
  }

  send(to: string, payload: Uint8Array): void {
    this.ws.send(encodeRelayDatagram(to, payload), { binary: true });
  }
}

/** A WireGuard-shaped message of `type` and `length` (random bytes after the zero header). */
function wireguardMessage(type: 1 | 2 | 3 | 4, length: number): Buffer {
  const bytes = randomBytes(length);
  bytes.set([type, 0, 0, 0], 0);
  return bytes;
}

async function readAuth(account: typeof owner): Promise<string> {
  return createReadAuthorization(account, { origin: TEST_CONSOLE_ORIGIN, chainId: platform.env.chainId });
}

async function joinDevice(account: typeof owner, publicKey: string): Promise<void> {
  const input = await signAction(account, {
    action: "formnet.join",
    params: { publicKey, endpoints: [] },
    origin: TEST_CONSOLE_ORIGIN,
    chainId: platform.env.chainId,
  });
  const res = await callTrpc({ url: platform.url, path: "formnet.join", type: "mutation", input });
  expect(res.status, res.message ?? undefined).toBe(200);
}

const hub = () => {
  const relay = platform.console.runtime.services.formnetRelay;
  if (!relay) throw new Error("the formnet module did not start its relay");
  return relay;
};

beforeAll(async () => {
  platform = await startTestPlatform({ operators: [operator.address], modules: [consoleFormnetModule()] });
  agent = await FakeAgent.connect({ url: platform.url, account: operator });
});
afterAll(async () => {
  for (const c of open) c.ws.terminate();
  await agent?.close();
  await platform?.close();
});

describe("formnet relay: who may connect", () => {
  it("refuses a connection with no credentials, a forged agent token, or another node's key", async () => {
    const anonymous = await RelayClient.connect(randomWgKey(), null).refused();
    expect(anonymous.code).toBe(4003);
    expect(anonymous.frame).toMatchObject({ type: "error", code: "UNAUTHORIZED" });

    const forged = await RelayClient.connect(agent.wgPublicKey, `Bearer ${"ab".repeat(32)}`).refused();
    expect(forged.frame).toMatchObject({
      code: "UNAUTHORIZED",
      message: expect.stringMatching(/token unknown/),
    });

    const token = agent.welcome?.agentToken ?? "";
    const wrongKey = await RelayClient.connect(randomWgKey(), `Bearer ${token}`).refused();
    expect(wrongKey.frame).toMatchObject({ message: expect.stringMatching(/not this node's formnet key/) });
  });

  it("refuses a laptop key that is not one of the caller's joined devices, and a malformed key", async () => {
    const othersDevice = randomWgKey();
    await joinDevice(other, othersDevice);
    const stolen = await RelayClient.connect(othersDevice, await readAuth(owner)).refused();
    expect(stolen.frame).toMatchObject({
      code: "UNAUTHORIZED",
      message: expect.stringMatching(/form manage join/),
    });
    const malformed = await RelayClient.connect("not-a-key", await readAuth(owner)).refused();
    expect(malformed.frame).toMatchObject({ code: "BAD_REQUEST" });
  });
});

describe("formnet relay: what it forwards", () => {
  it("forwards WireGuard messages byte for byte between a laptop and a node, and nothing else", async () => {
    const laptopKey = randomWgKey();
    const othersKey = randomWgKey();
    await joinDevice(owner, laptopKey);
    await joinDevice(other, othersKey);
    const node = RelayClient.connect(agent.wgPublicKey, `Bearer ${agent.welcome?.agentToken ?? ""}`);
    const laptop = RelayClient.connect(laptopKey, await readAuth(owner));
    const othersLaptop = RelayClient.connect(othersKey, await readAuth(other));
    expect(await node.ready()).toMatchObject({ key: agent.wgPublicKey });
    await laptop.ready();
    await othersLaptop.ready();
    const before = { ...hub().stats };

    // Handshake initiation and a full-MTU transport packet, laptop → node; the response back.
    const initiation = wireguardMessage(1, 148);
    const transport = wireguardMessage(4, 1452);
    laptop.send(agent.wgPublicKey, initiation);
    laptop.send(agent.wgPublicKey, transport);
    const got = await node.until("two datagrams at the node", () =>
      node.datagrams.length >= 2 ? node.datagrams.slice(0, 2) : undefined,
    );
    expect(got.map((d) => d.key)).toEqual([laptopKey, laptopKey]);
    expect(got[0]?.payload.equals(initiation)).toBe(true);
    expect(got[1]?.payload.equals(transport)).toBe(true);
    const response = wireguardMessage(2, 92);
    node.send(laptopKey, response);
    const back = await laptop.until("the response at the laptop", () => laptop.datagrams[0]);
    expect(back.key).toBe(agent.wgPublicKey);
    expect(back.payload.equals(response)).toBe(true);

    // Not WireGuard: plain text, a handshake of the wrong size, non-zero reserved bytes. Then a
    // laptop to another owner's laptop (laptops never peer). Each is dropped; the marker that
    // follows on the same connection arrives first, so nothing dropped was merely late.
    laptop.send(agent.wgPublicKey, Buffer.from("GET /etc/passwd HTTP/1.1\r\nHost: node\r\n\r\n"));
    laptop.send(agent.wgPublicKey, wireguardMessage(1, 149));
    const reserved = wireguardMessage(4, 64);
    reserved[2] = 7;
    laptop.send(agent.wgPublicKey, reserved);
    laptop.send(othersKey, wireguardMessage(1, 148));
    laptop.send(randomWgKey(), wireguardMessage(1, 148));
    const marker = wireguardMessage(3, 64);
    laptop.send(agent.wgPublicKey, marker);
    const next = await node.until("the marker at the node", () => node.datagrams[2]);
    expect(next.payload.equals(marker)).toBe(true);
    expect(node.datagrams).toHaveLength(3);
    expect(othersLaptop.datagrams).toEqual([]);
    const after = hub().stats;
    expect(after.forwarded - before.forwarded).toBe(4);
    expect(after.droppedNotWireguard - before.droppedNotWireguard).toBe(3);
    expect(after.droppedForbidden - before.droppedForbidden).toBe(1);
    expect(after.droppedNoRoute - before.droppedNoRoute).toBe(1);
  });
});
