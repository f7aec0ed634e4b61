import { privateKeyToAccount } from "viem/accounts";
import { describe, expect, it } from "vitest";
import type { TSignedAction } from "./envelope";
import { SigningError, type TSigningErrorCode } from "./errors";
import { signAction } from "./sign-action";
import { verifyAction } from "./verify-action";

const alice = privateKeyToAccount("0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d");
const mallory = privateKeyToAccount("0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a");
const origin = "https://console.example";
const chainId = 31337;
const now = 1_800_000_000;
const digest = `0x${"ab".repeat(32)}` as const;

function sign(overrides: Partial<Parameters<typeof signAction>[1]> = {}, account = alice) {
  return signAction(account, {
    action: "instance.stop",
    params: { instanceId: "i-1", force: false },
    origin,
    chainId,
    contentDigest: digest,
    now,
    ...overrides,
  });
}

async function rejection(envelope: unknown, opts: { expectedAction?: string; at?: number } = {}) {
  try {
    await verifyAction({
      envelope,
      origin,
      chainId,
      now: opts.at ?? now,
      expectedAction: opts.expectedAction ?? "instance.stop",
    });
  } catch (error) {
    if (error instanceof SigningError) return error.code;
    throw error;
  }
  throw new Error("verifyAction accepted the envelope");
}

describe("verifyAction", () => {
  it("accepts a well-formed signature and returns the signer", async () => {
    const envelope = await sign();
    const verified = await verifyAction({ envelope, origin, chainId, now, expectedAction: "instance.stop" });
    expect(verified.signer).toBe(alice.address.toLowerCase());
    expect(verified.typedData.domain).toEqual({ name: "Formation", version: "1", chainId });
  });

  it("accepts params whose keys arrive in another order (canonical JSON)", async () => {
    const envelope = await sign();
    const reordered = { ...envelope, params: { force: false, instanceId: "i-1" } };
    await expect(verifyAction({ envelope: reordered, origin, chainId, now })).resolves.toBeDefined();
  });

  const tampered: [string, (e: TSignedAction) => unknown, TSigningErrorCode][] = [
    ["action (to another valid action)", (e) => ({ ...e, action: "instance.delete" }), "BAD_SIGNATURE"],
    ["params value", (e) => ({ ...e, params: { instanceId: "i-2", force: false } }), "BAD_SIGNATURE"],
    [
      "params extra key",
      (e) => ({ ...e, params: { instanceId: "i-1", force: false, x: 1 } }),
      "BAD_SIGNATURE",
    ],
    ["contentDigest", (e) => ({ ...e, contentDigest: `0x${"cd".repeat(32)}` }), "BAD_SIGNATURE"],
    ["nonce", (e) => ({ ...e, nonce: "0".repeat(32) }), "BAD_SIGNATURE"],
    ["expiresAt", (e) => ({ ...e, expiresAt: e.expiresAt + 1 }), "BAD_SIGNATURE"],
    ["signer (claims another address)", (e) => ({ ...e, signer: mallory.address }), "BAD_SIGNATURE"],
    [
      "signature byte",
      (e) => ({
        ...e,
        signature: `${e.signature.slice(0, 10)}${e.signature[10] === "0" ? "1" : "0"}${e.signature.slice(11)}`,
      }),
      "BAD_SIGNATURE",
    ],
  ];
  it.each(tampered)("rejects a tampered %s", async (_name, mutate, code) => {
    const envelope = await sign();
    const action = (mutate(envelope) as { action: string }).action;
    expect(await rejection(mutate(envelope), { expectedAction: action })).toBe(code);
  });

  it("rejects a signature by another key claiming the victim as signer (forgery)", async () => {
    const forged = { ...(await sign({}, mallory)), signer: alice.address.toLowerCase() };
    expect(await rejection(forged)).toBe("BAD_SIGNATURE");
  });

  it("rejects a signature for another action than the procedure expects", async () => {
    expect(await rejection(await sign(), { expectedAction: "instance.delete" })).toBe("WRONG_ACTION");
  });

  it("rejects another origin, even when the signature is valid for it", async () => {
    expect(await rejection(await sign({ origin: "https://evil.example" }))).toBe("WRONG_ORIGIN");
  });

  it("rejects another chain, and a chain id swapped after signing", async () => {
    expect(await rejection(await sign({ chainId: 1 }))).toBe("WRONG_CHAIN");
    const swapped = { ...(await sign({ chainId: 1 })), chainId };
    expect(await rejection(swapped)).toBe("BAD_SIGNATURE");
  });

  it("rejects signatures from their expiry on (no grace past the signer's own expiry) and too-long lifetimes", async () => {
    const envelope = await sign({ ttlSeconds: 60 });
    expect(await rejection(envelope, { at: now + 60 })).toBe("EXPIRED");
    expect(await rejection(envelope, { at: now + 60 + 29 })).toBe("EXPIRED");
    await expect(verifyAction({ envelope, origin, chainId, now: now + 59 })).resolves.toBeDefined();
    const tooLong = await sign({ now: now + 3600, ttlSeconds: 60 });
    expect(await rejection(tooLong)).toBe("EXPIRY_TOO_FAR");
    // A signer whose clock runs up to 30 s ahead may still sign for the longest lifetime.
    const ahead = await sign({ now: now + 25, ttlSeconds: 600 });
    await expect(verifyAction({ envelope: ahead, origin, chainId, now })).resolves.toBeDefined();
  });

  const malformed: [string, unknown][] = [
    ["null", null],
    ["a string", "hello"],
    ["missing signature", { action: "instance.stop", params: {}, origin, chainId, nonce: "a".repeat(32) }],
  ];
  it.each(malformed)("rejects malformed input: %s", async (_name, value) => {
    expect(await rejection(value)).toBe("MALFORMED");
  });

  it("rejects malformed fields of an otherwise signed envelope", async () => {
    const e = await sign();
    for (const bad of [
      { ...e, nonce: "short" },
      { ...e, nonce: "A".repeat(32) },
      { ...e, signature: "0x1234" },
      { ...e, signer: "0x1234" },
      { ...e, contentDigest: "0x00" },
      { ...e, expiresAt: -5 },
      { ...e, chainId: "31337" },
    ]) {
      expect(await rejection(bad)).toBe("MALFORMED");
    }
  });

  it("does not itself remember nonces: replay protection is the receiver's job", async () => {
    // Documented contract: the console consumes (signer, nonce) atomically; see signed-action-service.
    const envelope = await sign();
    await verifyAction({ envelope, origin, chainId, now });
    await expect(verifyAction({ envelope, origin, chainId, now })).resolves.toBeDefined();
  });
});
