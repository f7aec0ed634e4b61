import { randomBytes } from "node:crypto";
import * as Automerge from "@automerge/automerge";
import type { LocalAccount } from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { describe, expect, it } from "vitest";
import { actorFor, openEnvelope, sealChange, sealChanges, signingMessage } from "./envelope";

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

  it("signs v2 by default, still reads v1 (accounts without raw-hash signing) and refuses other versions", async () => {
    const v2 = await sealChange({ account: writer, key: "dns/v", bytes: changeBy(writer.address, { a: 1 }) });
    expect(v2.envelope.v).toBe(2);
    const { sign: _sign, ...rest } = writer;
    const messageOnly: LocalAccount = rest;
    const v1 = await sealChange({
      account: messageOnly,
      key: "dns/v",
      bytes: changeBy(writer.address, { a: 2 }),
    });
    expect(v1.envelope.v).toBeUndefined();
    expect((await openEnvelope(v1.envelope)).ok).toBe(true);
    // The same signature under the other version's message must not verify.
    const relabelled = await openEnvelope({ ...v1.envelope, v: 2 });
    expect(relabelled.ok ? "ok" : relabelled.code).toBe("bad-signature");
    const downgraded = await openEnvelope({ ...v2.envelope, v: undefined });
    expect(downgraded.ok ? "ok" : downgraded.code).toBe("bad-signature");
    const future = await openEnvelope({ ...v2.envelope, v: 3 });
    expect(future.ok ? "ok" : future.code).toBe("bad-version");
    if (!future.ok) expect(future.detail).toMatch(/version 3 is unknown/);
  });

  it("rejects a forged v2 signature whether or not the signer's key is already known", async () => {
    const fresh = privateKeyToAccount(generatePrivateKey());
    const sealed = await sealChange({
      account: fresh,
      key: "dns/f",
      bytes: changeBy(fresh.address, { a: 1 }),
    });
    const forged = await other.sign({ hash: `0x${"11".repeat(32)}` });
    const unknownYet = await openEnvelope({ ...sealed.envelope, signature: forged });
    expect(unknownYet.ok ? "ok" : unknownYet.code).toBe("bad-signature");
    expect((await openEnvelope(sealed.envelope)).ok).toBe(true); // now the key is remembered
    const known = await openEnvelope({ ...sealed.envelope, signature: forged });
    expect(known.ok ? "ok" : known.code).toBe("bad-signature");
    const flipped = `${sealed.envelope.signature.slice(0, 20)}${sealed.envelope.signature[20] === "0" ? "1" : "0"}${sealed.envelope.signature.slice(21)}`;
    const tampered = await openEnvelope({ ...sealed.envelope, signature: flipped });
    expect(tampered.ok ? "ok" : tampered.code).toBe("bad-signature");
  });

  it("signs a batch once: each change opens alone with its path, and no path, key or hash can be swapped", async () => {
    const fresh = privateKeyToAccount(generatePrivateKey());
    const changes = Array.from({ length: 5 }, (_, i) => ({
      key: `dns/b${i}`,
      bytes: changeBy(fresh.address, { i }),
    }));
    const sealed = (await sealChanges({ account: fresh, changes })).map((c) => c.envelope);
    expect(new Set(sealed.map((e) => e.signature)).size).toBe(1);
    expect(sealed.every((e) => (e.proof?.length ?? 0) >= 1)).toBe(true);
    for (const envelope of sealed) expect((await openEnvelope(envelope)).ok).toBe(true);
    const [a, b] = sealed as [(typeof sealed)[number], (typeof sealed)[number]];
    const code = async (e: typeof a) => {
      const opened = await openEnvelope(e);
      return opened.ok ? "ok" : opened.code;
    };
    expect(await code({ ...a, proof: b.proof })).toBe("bad-signature");
    expect(await code({ ...a, key: b.key })).toBe("bad-signature");
    expect(await code({ ...a, proof: undefined })).toBe("bad-signature");
    const other5 = await sealChanges({
      account: other,
      changes: [changes[0], changes[1]].flatMap((c) => (c ? [c] : [])),
    });
    expect(await code({ ...a, signature: other5[0]?.envelope.signature ?? "0x" })).toBe("bad-signature");
    // A batch root this process already verified does not vouch for another signer.
    expect(await code({ ...a, signer: other.address.toLowerCase() })).toMatch(
      /^(bad-signature|actor-mismatch)$/,
    );
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
