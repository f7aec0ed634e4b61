import { describe, expect, it } from "vitest";
import { changedFields, peersFromStore } from "./records";

const KEY = Buffer.alloc(32, 7).toString("base64");

describe("changedFields", () => {
  it("keeps only fields whose value differs, whatever the key order of nested objects", () => {
    const current = { capacity: { vcpu: 2, memMb: 512 }, heartbeat: 1, metrics: { a: 1 } };
    const wanted = { capacity: { memMb: 512, vcpu: 2 }, heartbeat: 2, metrics: { a: 1 }, region: "x" };
    expect(changedFields(current, wanted)).toEqual({ heartbeat: 2, region: "x" });
    expect(changedFields(undefined, { a: [1, 2] })).toEqual({ a: [1, 2] });
    expect(changedFields({ a: [1, 2] }, { a: [2, 1] })).toEqual({ a: [2, 1] });
  });
});

describe("peersFromStore", () => {
  it("turns console-signed peer entities into formnet peers, leaving released and partial ones out", () => {
    const peers = peersFromStore([
      {
        key: "peers/n-1",
        value: { publicKey: KEY, ip: "10.42.0.1", endpoints: ["1.2.3.4:51820"], kind: "node", ref: "n-1" },
      },
      {
        key: "peers/n-2",
        value: { publicKey: KEY, ip: "10.42.0.2", endpoints: [], kind: "node", ref: "n-2", released: true },
      },
      { key: "peers/i-1", value: { ip: "10.42.0.3", kind: "instance", ref: "i-1" } },
    ]);
    expect(peers).toEqual([
      { publicKey: KEY, ip: "10.42.0.1", endpoints: ["1.2.3.4:51820"], kind: "node", ref: "n-1" },
    ]);
  });
});
