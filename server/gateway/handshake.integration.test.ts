import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FakeAgent } from "@/server/testing/fake-agent";
import { startTestPlatform, type TTestPlatform } from "@/server/testing/platform";
import { CLOSE } from "./agent-connection";

const operator = privateKeyToAccount(generatePrivateKey());
const stranger = privateKeyToAccount(generatePrivateKey());
let platform: TTestPlatform;

beforeAll(async () => {
  platform = await startTestPlatform({ operators: [operator.address] });
});
afterAll(async () => {
  await platform?.close();
});

async function rejection(agent: FakeAgent) {
  const reject = await agent.waitFor((m) => m.type === "reject");
  await agent.waitFor(() => agent.closeCode !== null).catch(() => undefined);
  return reject;
}

describe("agent gateway handshake", () => {
  it("welcomes an admitted operator with a node id, formnet address and a stable identity", async () => {
    const agent = await FakeAgent.connect({ url: platform.url, account: operator });
    expect(agent.welcome).toMatchObject({
      type: "welcome",
      formnet: { address: "10.42.0.1", cidr: "10.42.0.0/16" },
    });
    const node = await platform.repos.nodes.find(agent.nodeId);
    expect(node).toMatchObject({ operator: operator.address.toLowerCase(), status: "online" });
    await agent.close();
    // Same key again: same node, same address.
    const again = await FakeAgent.connect({
      url: platform.url,
      account: operator,
      wgPublicKey: agent.wgPublicKey,
    });
    expect(again.nodeId).toBe(agent.nodeId);
    expect(again.welcome?.formnet.address).toBe("10.42.0.1");
    await again.close();
  });

  it("answers consoleTooOld / agentTooOld for versions outside the console's range", async () => {
    const newer = new FakeAgent({ url: platform.url, account: operator, protocolVersion: 99 });
    expect(await rejection(newer)).toMatchObject({ reason: "consoleTooOld" });
    expect(newer.closeCode).toBe(CLOSE.rejected);
    const older = new FakeAgent({ url: platform.url, account: operator, protocolVersion: 0 });
    // Version 0 is not even a valid hello (versions start at 1), so it is malformed.
    expect(await rejection(older)).toMatchObject({ reason: "malformed" });
  });

  it("rejects a forged signature and an operator that is not admitted as forbidden", async () => {
    const forged = new FakeAgent({
      url: platform.url,
      account: operator,
      signText: ({ origin }) => `Formation node agent admission\nConsole: ${origin}\nNonce: replayed-nonce`,
    });
    expect(await rejection(forged)).toMatchObject({
      reason: "forbidden",
      message: expect.stringMatching(/signature/),
    });
    const unknown = new FakeAgent({ url: platform.url, account: stranger });
    expect(await rejection(unknown)).toMatchObject({
      reason: "forbidden",
      message: expect.stringMatching(/not admitted/),
    });
  });

  it("rejects a WireGuard key that belongs to another operator", async () => {
    const first = await FakeAgent.connect({ url: platform.url, account: operator });
    const other = privateKeyToAccount(generatePrivateKey());
    const p2 = await startTestPlatform({ operators: [operator.address, other.address] });
    try {
      const a = await FakeAgent.connect({ url: p2.url, account: operator, wgPublicKey: first.wgPublicKey });
      const b = new FakeAgent({ url: p2.url, account: other, wgPublicKey: first.wgPublicKey });
      expect(await rejection(b)).toMatchObject({
        reason: "forbidden",
        message: expect.stringMatching(/another operator/),
      });
      await a.close();
    } finally {
      await first.close();
      await p2.close();
    }
  });

  it("rejects a malformed first frame, and closes after repeated malformed frames", async () => {
    const early = new FakeAgent({ url: platform.url, account: operator });
    await early.waitFor((m) => m.type === "challenge");
    // The fake agent answered the challenge already; a fresh raw socket shows the malformed path.
    await early.close();
    const { WebSocket } = await import("ws");
    const raw = new WebSocket(`${platform.url.replace("http", "ws")}/ws/agent`);
    const frames: string[] = [];
    const closed = new Promise<number>((resolve) => raw.on("close", (code) => resolve(code)));
    raw.on("message", (d) => {
      frames.push(String(d));
      if (frames.length === 1) raw.send("{not json");
    });
    expect(await closed).toBe(CLOSE.rejected);
    expect(JSON.parse(frames[1] ?? "{}")).toMatchObject({ type: "reject", reason: "malformed" });

    const agent = await FakeAgent.connect({ url: platform.url, account: operator, heartbeats: false });
    agent.sendRaw(JSON.stringify({ type: "job.ack", jobId: "../etc" }));
    const error = await agent.waitFor((m) => m.type === "error");
    expect(error).toMatchObject({ code: "malformed", inReplyTo: "job.ack" });
    for (let i = 0; i < 4; i++) agent.sendRaw("garbage");
    await agent.waitFor(() => agent.closeCode !== null).catch(() => undefined);
    expect(agent.closeCode).toBe(CLOSE.abuse);
  });

  it("refuses reports about jobs and instances the agent does not hold", async () => {
    const agent = await FakeAgent.connect({ url: platform.url, account: operator, heartbeats: false });
    agent.send({ type: "job.complete", jobId: "someone-elses-job", result: { kind: "stop" } });
    agent.send({ type: "instance.status", instanceId: "i-not-mine", status: "running" });
    const errors = async () =>
      agent.received.filter((m) => m.type === "error" && m.code === "notYours").length;
    await agent.waitFor((m) => m.type === "error" && m.inReplyTo === "instance.status");
    expect(await errors()).toBe(2);
    await agent.close();
  });
});
