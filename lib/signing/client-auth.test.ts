import { privateKeyToAccount } from "viem/accounts";
import { describe, expect, it } from "vitest";
import { buildAgentChallenge, verifyAgentChallenge } from "./agent-auth";
import { createReadAuthorization, parseReadAuthorization, readAuthorizationHeaders } from "./client-auth";
import { SigningError } from "./errors";
import { verifyAction } from "./verify-action";

const key = privateKeyToAccount("0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d");
const other = privateKeyToAccount("0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a");
const origin = "http://localhost:3000";

describe("read authorization header", () => {
  it("round-trips and verifies as a session.read action", async () => {
    const header = await createReadAuthorization(key, { origin, chainId: 31337 });
    expect(header).toMatch(/^Formation [A-Za-z0-9_-]+$/);
    const envelope = parseReadAuthorization(header);
    const verified = await verifyAction({ envelope, origin, chainId: 31337, expectedAction: "session.read" });
    expect(verified.signer).toBe(key.address.toLowerCase());
  });

  it("ignores other schemes and rejects garbage tokens", () => {
    expect(parseReadAuthorization(null)).toBeNull();
    expect(parseReadAuthorization("Bearer abc")).toBeNull();
    expect(() => parseReadAuthorization("Formation !!!")).toThrow(SigningError);
    expect(() => parseReadAuthorization(`Formation ${btoa('{"a":1}')}`)).toThrow(/not a signed action/);
  });
});

describe("readAuthorizationHeaders", () => {
  it("reuses a token until shortly before expiry, then signs a new one", async () => {
    let now = 1_800_000_000;
    const headers = readAuthorizationHeaders(key, {
      origin,
      chainId: 31337,
      ttlSeconds: 60,
      clock: () => now,
    });
    const first = await headers();
    expect((await headers()).authorization).toBe(first.authorization);
    now += 44;
    expect((await headers()).authorization).toBe(first.authorization);
    now += 1;
    const renewed = await headers();
    expect(renewed.authorization).not.toBe(first.authorization);
    expect(parseReadAuthorization(renewed.authorization)?.expiresAt).toBe(now + 60);
  });
});

describe("agent challenge", () => {
  it("verifies the operator's personal_sign and nothing else", async () => {
    const nonce = "n-123";
    const signature = await key.signMessage({ message: buildAgentChallenge(nonce, origin) });
    expect(await verifyAgentChallenge({ nonce, origin, address: key.address, signature })).toBe(true);
    expect(await verifyAgentChallenge({ nonce: "n-124", origin, address: key.address, signature })).toBe(
      false,
    );
    expect(
      await verifyAgentChallenge({ nonce, origin: "http://evil", address: key.address, signature }),
    ).toBe(false);
    expect(await verifyAgentChallenge({ nonce, origin, address: other.address, signature })).toBe(false);
    expect(await verifyAgentChallenge({ nonce, origin, address: key.address, signature: "0x1234" })).toBe(
      false,
    );
  });
});
