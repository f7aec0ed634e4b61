/**
 * Serial log requests over the real agent socket: console (real WebSocket gateway, SQLite) ⇄
 * FakeAgent speaking the real protocol; `serial.tail` over HTTP with SIWE sessions.
 */
import { randomBytes } from "node:crypto";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { TConsoleToAgent, TMessageOf } from "@/lib/protocol";
import { callTrpc, siweSignIn } from "@/server/http/testing";
import { eventually, FakeAgent } from "@/server/testing/fake-agent";
import { startTestPlatform, type TTestPlatform } from "@/server/testing/platform";
import { SerialLogError } from "./serial-log";

const operator = privateKeyToAccount(generatePrivateKey());
const owner = privateKeyToAccount(generatePrivateKey());
const stranger = privateKeyToAccount(generatePrivateKey());
let platform: TTestPlatform;
const agents: FakeAgent[] = [];

beforeEach(async () => {
  platform = await startTestPlatform({ operators: [operator.address] });
});
afterEach(async () => {
  for (const a of agents.splice(0)) await a.close();
  await platform.close();
});

async function agent(extra: Partial<Parameters<typeof FakeAgent.connect>[0]> = {}): Promise<FakeAgent> {
  const a = await FakeAgent.connect({ url: platform.url, account: operator, ...extra });
  agents.push(a);
  return a;
}

/** An instance row of `owner` placed on the agent's node, reported running by the agent. */
async function placeInstance(a: FakeAgent): Promise<string> {
  const id = `i-${randomBytes(10).toString("hex")}`;
  await platform.repos.instances.create({
    id,
    deploymentId: `d-${randomBytes(10).toString("hex")}`,
    buildId: `b-${randomBytes(10).toString("hex")}`,
    owner: owner.address.toLowerCase(),
    nodeId: a.nodeId,
    status: "running",
    desired: "running",
    formnetIp: null,
    imageDigest: `sha256:${"a".repeat(64)}`,
    vcpu: 1,
    memoryMb: 512,
    diskGb: 5,
  });
  a.instances.set(id, "running");
  return id;
}

async function failure(p: Promise<unknown>): Promise<SerialLogError> {
  const error = await p.then(
    () => null,
    (e: unknown) => e,
  );
  if (!(error instanceof SerialLogError)) throw new Error(`expected a SerialLogError, got ${String(error)}`);
  return error;
}

type TSerialRequest = TMessageOf<TConsoleToAgent, "instance.serial.request">;
const isSerialRequest = (m: TConsoleToAgent): m is TSerialRequest => m.type === "instance.serial.request";

describe("serial log over the agent socket", () => {
  it("returns the tail, then only what is new from `end`", async () => {
    let log = "[    0.000000] Linux version 6.1\nlogin: ";
    const a = await agent({ serialLog: () => log });
    const id = await placeInstance(a);
    const serial = platform.services.serial.requests;
    const tail = await serial.request({ nodeId: a.nodeId, instanceId: id, maxBytes: 7 });
    expect(tail).toEqual({ data: "login: ", offset: log.length - 7, end: log.length, size: log.length });
    log += "root\n";
    const next = await serial.request({ nodeId: a.nodeId, instanceId: id, maxBytes: 1000, offset: tail.end });
    expect(next.data).toBe("root\n");
    const request = a.received.find(isSerialRequest);
    expect(request).toMatchObject({ instanceId: id, maxBytes: 7 });
    expect(serial.pending).toBe(0);
  });

  it("types every failure: not on node, offline, timeout, agent too old, disconnect mid-request", async () => {
    const serial = platform.services.serial.requests;
    const a = await agent();
    expect((await failure(serial.request({ nodeId: a.nodeId, instanceId: "i-x", maxBytes: 10 }))).code).toBe(
      "notOnNode",
    );
    expect(
      (await failure(serial.request({ nodeId: "n-nowhere", instanceId: "i-x", maxBytes: 10 }))).code,
    ).toBe("nodeOffline");

    const silent = await agent({ serialLog: () => null });
    const quiet = await placeInstance(silent);
    const started = Date.now();
    const timedOut = await failure(
      serial.request({ nodeId: silent.nodeId, instanceId: quiet, maxBytes: 10, timeoutMs: 300 }),
    );
    expect(timedOut.code).toBe("timeout");
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);

    // The agent drops while a request waits: answered at once, not at the timeout.
    const asked = silent.received.filter(isSerialRequest).length;
    const pending = failure(
      serial.request({ nodeId: silent.nodeId, instanceId: quiet, maxBytes: 10, timeoutMs: 30_000 }),
    );
    await eventually(() => silent.received.filter(isSerialRequest).length > asked, {
      what: "second request",
    });
    const dropAt = Date.now();
    await silent.kill();
    expect((await pending).code).toBe("nodeOffline");
    expect(Date.now() - dropAt).toBeLessThan(5_000);
    expect(serial.pending).toBe(0);

    const old = await agent({ protocolVersion: 1 });
    const oldId = await placeInstance(old);
    expect(
      (await failure(serial.request({ nodeId: old.nodeId, instanceId: oldId, maxBytes: 10 }))).code,
    ).toBe("agentTooOld");
    // A version-1 agent never receives a frame it cannot read.
    expect(old.received.some(isSerialRequest)).toBe(false);
  });

  it("ignores a reply from another node (notYours) and still takes the right one", async () => {
    const host = await agent({ serialLog: () => null });
    const id = await placeInstance(host);
    const intruder = await agent();
    const result = platform.services.serial.requests.request({
      nodeId: host.nodeId,
      instanceId: id,
      maxBytes: 100,
    });
    const request = await host.waitFor(isSerialRequest);
    const forged = {
      type: "instance.serial.reply",
      requestId: request.requestId,
      instanceId: id,
      data: "forged",
      offset: 0,
      end: 6,
      size: 6,
    } as const;
    intruder.send(forged);
    await intruder.waitFor((m) => m.type === "error" && m.code === "notYours");
    host.send({ ...forged, data: "genuine", end: 7, size: 7 });
    expect((await result).data).toBe("genuine");
  });
});

describe("serial.tail (tRPC)", () => {
  it("serves the owner, hides the instance from everyone else, and maps gateway errors", async () => {
    const a = await agent({ serialLog: (id) => `boot of ${id}\n` });
    const id = await placeInstance(a);
    const as = async (who: typeof owner) => ({
      cookie: (await siweSignIn({ url: platform.url, account: who })).cookie,
    });
    const tail = (headers: Record<string, string>, instanceId = id) =>
      callTrpc({
        url: platform.url,
        path: "serial.tail",
        type: "query",
        input: { instanceId, maxBytes: 4096 },
        headers,
      });

    const mine = await tail(await as(owner));
    expect(mine.ok).toBe(true);
    expect(mine.data).toMatchObject({ instanceId: id, nodeId: a.nodeId, data: `boot of ${id}\n`, offset: 0 });

    expect((await tail(await as(stranger))).appCode).toBe("NOT_FOUND");
    expect((await tail({})).appCode).toBe("UNAUTHORIZED");
    expect((await tail(await as(owner), `i-${"0".repeat(20)}`)).appCode).toBe("NOT_FOUND");

    await a.kill();
    await eventually(() => !platform.services.agents.has(a.nodeId), { what: "socket closed" });
    const offline = await tail(await as(owner));
    expect(offline.appCode).toBe("UNAVAILABLE");
    expect(offline.message).toMatch(/offline/);
  });
});
