import { describe, expect, it } from "vitest";
import { minimalFormfile } from "@/lib/formfile/testing";
import type { TFormfile } from "../formfile/canonical";
import {
  applyPeerUpdate,
  checkAgentVersion,
  checkConsoleVersion,
  encodeMessage,
  MAX_FRAME_BYTES,
  PROTOCOL_VERSION,
  parseAgentMessage,
  parseConsoleMessage,
  SUSPEND_MIN_PROTOCOL,
  type TAgentToConsole,
  type TConsoleToAgent,
  ZJobSpec,
} from "./index";

const digest = `sha256:${"a".repeat(64)}`;
const wgKey = `${"A".repeat(42)}E=`;

const formfile: TFormfile = minimalFormfile();

const hello: TAgentToConsole = {
  type: "hello",
  protocolVersion: PROTOCOL_VERSION,
  agentVersion: "0.1.0",
  operator: `0x${"1".repeat(40)}`,
  signature: "0xdeadbeef",
  node: {
    region: "eu-west",
    capacity: { vcpu: 4, memoryMb: 8192, diskGb: 100 },
    accel: "tcg",
    formnet: { publicKey: wgKey, listenPort: 51820, endpoints: ["192.0.2.1:51820"] },
  },
  instances: [{ instanceId: "i-1", status: "running" }],
  jobs: [{ jobId: "j-1", state: "running" }],
};

describe("parseAgentMessage", () => {
  it("round-trips a hello and typed job.complete results", () => {
    const parsed = parseAgentMessage(encodeMessage(hello));
    expect(parsed).toEqual({ ok: true, message: hello });
    const done = parseAgentMessage(
      JSON.stringify({
        type: "job.complete",
        jobId: "j-1",
        result: { kind: "build", imageDigest: digest, sizeBytes: 9 },
      }),
    );
    expect(done.ok && done.message.type === "job.complete" && done.message.result.kind).toBe("build");
  });

  it("accepts bytes as well as strings", () => {
    const bytes = new TextEncoder().encode(JSON.stringify({ type: "job.ack", jobId: "j-1" }));
    expect(parseAgentMessage(bytes).ok).toBe(true);
    expect(parseAgentMessage([bytes.subarray(0, 5), bytes.subarray(5)]).ok).toBe(true);
  });

  it("reports invalid JSON, unknown types, bad fields and oversize frames as typed errors", () => {
    expect(parseAgentMessage("{nope")).toMatchObject({ ok: false, error: { code: "invalidJson" } });
    expect(parseAgentMessage(JSON.stringify({ type: "launch.missiles" }))).toMatchObject({
      ok: false,
      error: { code: "invalidMessage", type: "launch.missiles" },
    });
    const badDigest = parseAgentMessage(
      JSON.stringify({
        type: "job.complete",
        jobId: "j",
        result: { kind: "build", imageDigest: "md5:x", sizeBytes: 1 },
      }),
    );
    expect(badDigest).toMatchObject({ ok: false, error: { code: "invalidMessage", type: "job.complete" } });
    expect(parseAgentMessage(JSON.stringify({ type: "job.ack", jobId: "../../etc" })).ok).toBe(false);
    expect(parseAgentMessage("x".repeat(MAX_FRAME_BYTES + 1))).toMatchObject({
      ok: false,
      error: { code: "tooLarge" },
    });
    expect(parseAgentMessage(42)).toMatchObject({ ok: false, error: { code: "invalidMessage" } });
  });

  it("rejects a hello whose operator is not an address", () => {
    expect(parseAgentMessage(JSON.stringify({ ...hello, operator: "alice" })).ok).toBe(false);
  });
});

describe("parseConsoleMessage", () => {
  it("parses offers typed per kind and rejects a payload of the wrong kind", () => {
    const offer: TConsoleToAgent = {
      type: "job.offer",
      jobId: "j-2",
      leaseMs: 30_000,
      kind: "build",
      payload: {
        buildId: "b1",
        formfile,
        contextUrl: `/api/agent/contexts/${digest}`,
        contextDigest: digest,
        contextSizeBytes: 10,
      },
    };
    const parsed = parseConsoleMessage(encodeMessage(offer));
    expect(parsed).toEqual({ ok: true, message: offer });
    const wrong = { ...offer, kind: "boot" };
    expect(parseConsoleMessage(JSON.stringify(wrong)).ok).toBe(false);
    const stop = {
      type: "job.offer",
      jobId: "j-3",
      leaseMs: 1000,
      kind: "stop",
      payload: { instanceId: "i" },
    };
    expect(parseConsoleMessage(JSON.stringify(stop)).ok).toBe(true);
  });
});

describe("suspend (protocol 7)", () => {
  it("a stop offer may carry suspend; other instance jobs keep their payload", () => {
    const offer = (kind: string, payload: object) =>
      parseConsoleMessage(JSON.stringify({ type: "job.offer", jobId: "j-4", leaseMs: 1000, kind, payload }));
    const suspend = offer("stop", { instanceId: "i", suspend: true });
    expect(suspend.ok && suspend.message.type === "job.offer" && suspend.message.payload).toEqual({
      instanceId: "i",
      suspend: true,
    });
    expect(offer("stop", { instanceId: "i", suspend: "yes" }).ok).toBe(false);
    // Only a stop suspends: a start's payload has no such field (zod strips it).
    const start = offer("start", { instanceId: "i", suspend: true });
    expect(start.ok && start.message.type === "job.offer" && start.message.payload).toEqual({
      instanceId: "i",
    });
    expect(ZJobSpec.parse({ kind: "stop", payload: { instanceId: "i" } })).toEqual({
      kind: "stop",
      payload: { instanceId: "i" },
    });
  });

  it("agents report suspended instances and suspend results", () => {
    const status = parseAgentMessage(
      JSON.stringify({ type: "instance.status", instanceId: "i-1", status: "suspended" }),
    );
    expect(status.ok && status.message.type === "instance.status" && status.message.status).toBe("suspended");
    const done = parseAgentMessage(
      JSON.stringify({ type: "job.complete", jobId: "j-1", result: { kind: "stop", suspended: true } }),
    );
    expect(done.ok && done.message.type === "job.complete" && done.message.result).toEqual({
      kind: "stop",
      suspended: true,
    });
    const plain = parseAgentMessage(
      JSON.stringify({ type: "job.complete", jobId: "j-1", result: { kind: "start" } }),
    );
    expect(plain.ok && plain.message.type === "job.complete" && plain.message.result).toEqual({
      kind: "start",
    });
  });

  it("is version 7: the console sends suspend only to agents that speak it", () => {
    expect(PROTOCOL_VERSION).toBe(7);
    expect(SUSPEND_MIN_PROTOCOL).toBe(7);
    expect(PROTOCOL_VERSION).toBeGreaterThanOrEqual(SUSPEND_MIN_PROTOCOL);
  });
});

describe("version negotiation", () => {
  const range = { current: 3, minSupported: 2 };
  it("console side answers agentTooOld / consoleTooOld", () => {
    expect(checkAgentVersion(1, range)).toBe("agentTooOld");
    expect(checkAgentVersion(2, range)).toBeNull();
    expect(checkAgentVersion(3, range)).toBeNull();
    expect(checkAgentVersion(4, range)).toBe("consoleTooOld");
    expect(checkAgentVersion(PROTOCOL_VERSION)).toBeNull();
  });
  it("agent side reads the console's range from the challenge", () => {
    expect(checkConsoleVersion({ protocolVersion: 5, minProtocolVersion: 4 }, range)).toBe("agentTooOld");
    expect(checkConsoleVersion({ protocolVersion: 1, minProtocolVersion: 1 }, range)).toBe("consoleTooOld");
    expect(checkConsoleVersion({ protocolVersion: 3, minProtocolVersion: 1 }, range)).toBeNull();
  });
});

describe("applyPeerUpdate", () => {
  const peer = (ref: string, ip: string) => ({
    publicKey: wgKey,
    ip,
    endpoints: [],
    kind: "node" as const,
    ref,
  });
  it("replaces on a full list and merges a delta by ref", () => {
    const start = applyPeerUpdate([], { peers: [peer("a", "10.42.0.1"), peer("b", "10.42.0.2")] });
    expect(start.map((p) => p.ref)).toEqual(["a", "b"]);
    const merged = applyPeerUpdate(start, {
      peers: [peer("b", "10.42.0.9"), peer("c", "10.42.0.3")],
      full: false,
    });
    expect(merged.map((p) => [p.ref, p.ip])).toEqual([
      ["a", "10.42.0.1"],
      ["b", "10.42.0.9"],
      ["c", "10.42.0.3"],
    ]);
    expect(applyPeerUpdate(merged, { peers: [peer("c", "10.42.0.3")], full: true })).toHaveLength(1);
  });
});
