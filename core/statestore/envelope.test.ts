import { randomBytes } from "node:crypto";
import * as Automerge from "@automerge/automerge";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { describe, expect, it } from "vitest";
import { actorFor, openEnvelope, sealChange, signingMessage } from "./envelope";

const writer = privateKeyToAccount(generatePrivateKey());
const other = privateKeyToAccount(generatePrivateKey());

function changeBy(address: string, set: Record<string, unknown>): Uint8Array {
  const doc = Automerge.change(
    Automerge.init<Record<string, unknown>>({ actor: actorFor(address, randomBytes(12)) }),
    (d) => {
      Object.assign(d, set);
    },
  );
  const bytes = Automerge.getLastLocalChange(doc);
  if (!bytes) throw new Error("no change");
  return bytes;
}

describe("signed change envelopes", () => {
  it("round-trips: the receiver re-derives hash and signer itself", async () => {
    const sealed = await sealChange({
      account: writer,
      key: "dns/a",
      bytes: changeBy(writer.address, { value: "x" }),
    });
    expect(sealed.envelope.signer).toBe(writer.address.toLowerCase());
    const opened = await openEnvelope(sealed.envelope);
    expect(opened.ok).toBe(true);
    if (opened.ok) expect(opened.change.decoded.hash).toBe(sealed.envelope.hash);
  });

  it("rejects tampered bytes", async () => {
    const { envelope } = await sealChange({
      account: writer,
      key: "dns/a",
      bytes: changeBy(writer.address, { value: "x" }),
    });
    const bytes = Buffer.from(envelope.change, "base64");
    bytes[bytes.length - 3] = (bytes[bytes.length - 3] ?? 0) ^ 0xff;
    const opened = await openEnvelope({ ...envelope, change: bytes.toString("base64") });
    expect(opened.ok ? "ok" : opened.code).toMatch(/^(bad-hash|malformed)$/);
    const garbage = await openEnvelope({
      ...envelope,
      change: Buffer.from("not a change").toString("base64"),
    });
    expect(garbage.ok ? "ok" : garbage.code).toBe("malformed");
  });

  it("rejects a signature by another key, a claimed signer that did not sign, and a moved key", async () => {
    const { envelope } = await sealChange({
      account: writer,
      key: "dns/a",
      bytes: changeBy(writer.address, { value: "x" }),
    });
    const forged = await other.signMessage({ message: signingMessage(envelope.key, envelope.hash) });
    const bad = await openEnvelope({ ...envelope, signature: forged });
    expect(bad.ok ? "ok" : bad.code).toBe("bad-signature");
    const moved = await openEnvelope({ ...envelope, key: "dns/b" });
    expect(moved.ok ? "ok" : moved.code).toBe("bad-signature");
    const junk = await openEnvelope({ ...envelope, signature: `0x${"00".repeat(65)}` });
    expect(junk.ok ? "ok" : junk.code).toBe("bad-signature");
  });

  it("rejects a change whose actor belongs to someone else", async () => {
    const sealed = await sealChange({
      account: writer,
      key: "dns/a",
      bytes: changeBy(other.address, { value: "x" }),
    });
    const opened = await openEnvelope(sealed.envelope);
    expect(opened.ok ? "ok" : opened.code).toBe("actor-mismatch");
  });

  it("builds 32-byte actors prefixed by the writer's address", () => {
    const actor = actorFor(writer.address, new Uint8Array(12));
    expect(actor).toHaveLength(64);
    expect(actor.startsWith(writer.address.slice(2).toLowerCase())).toBe(true);
    expect(() => actorFor(writer.address, new Uint8Array(4))).toThrow(RangeError);
  });
});
