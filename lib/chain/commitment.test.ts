import { type Hex, hexToBigInt, numberToHex, slice } from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { describe, expect, it } from "vitest";
import { buildCommitmentTypedData } from "./build-commitment";
import {
  buildIdToBytes32,
  checkSignedCommitment,
  imageDigestFromBytes32,
  imageDigestToBytes32,
  type TSignedCommitment,
} from "./commitment";

const owner = privateKeyToAccount(generatePrivateKey());
const other = privateKeyToAccount(generatePrivateKey());
const contract = "0x5FbDB2315678afecb367f032d93F642f64180aa3";
const chainId = 31337;
const buildId = "ab".repeat(32);
const imageDigest = `sha256:${"cd".repeat(32)}`;
const now = 1_800_000_000;

async function sign(
  account = owner,
  overrides: Partial<{
    buildId: Hex;
    imageDigest: Hex;
    nonce: bigint;
    deadline: bigint;
    chainId: number;
  }> = {},
): Promise<TSignedCommitment> {
  const message = {
    owner: owner.address,
    buildId: overrides.buildId ?? buildIdToBytes32(buildId),
    imageDigest: overrides.imageDigest ?? imageDigestToBytes32(imageDigest),
    nonce: overrides.nonce ?? 0n,
    deadline: overrides.deadline ?? BigInt(now + 600),
  };
  const signature = await account.signTypedData(
    buildCommitmentTypedData({ chainId: overrides.chainId ?? chainId, contract, message }),
  );
  return {
    imageDigest: message.imageDigest,
    nonce: message.nonce.toString(),
    deadline: Number(message.deadline),
    signature,
  };
}

const check = (commitment: TSignedCommitment, extra: Partial<{ buildId: string }> = {}) =>
  checkSignedCommitment({
    commitment,
    owner: owner.address,
    buildId: extra.buildId ?? buildId,
    imageDigest,
    chainId,
    contract,
    now,
  });

describe("bytes32 conversions", () => {
  it("maps build ids and sha256 digests to bytes32 and back", () => {
    expect(buildIdToBytes32(buildId.toUpperCase())).toBe(`0x${buildId}`);
    expect(buildIdToBytes32(`0x${buildId}`)).toBe(`0x${buildId}`);
    expect(imageDigestToBytes32(imageDigest)).toBe(`0x${"cd".repeat(32)}`);
    expect(imageDigestFromBytes32(imageDigestToBytes32(imageDigest))).toBe(imageDigest);
    expect(() => buildIdToBytes32("xyz")).toThrow(/not a build id/);
    expect(() => imageDigestToBytes32("md5:00")).toThrow(/not a sha256/);
  });
});

describe("checkSignedCommitment", () => {
  it("accepts the owner's signature over this build, digest and chain", async () => {
    expect(await check(await sign())).toBeNull();
  });

  it("refuses a commitment to another digest", async () => {
    const c = await sign(owner, { imageDigest: `0x${"ee".repeat(32)}` });
    expect(await check(c)).toMatchObject({ code: "digest" });
  });

  it("refuses a signature by someone else, for another build, or for another chain", async () => {
    expect(await check(await sign(other))).toMatchObject({ code: "signature" });
    expect(await check(await sign(), { buildId: "ef".repeat(32) })).toMatchObject({ code: "signature" });
    expect(await check(await sign(owner, { chainId: 1 }))).toMatchObject({ code: "signature" });
  });

  it("refuses a nonce or deadline changed after signing", async () => {
    const c = await sign();
    expect(await check({ ...c, nonce: "1" })).toMatchObject({ code: "signature" });
    expect(await check({ ...c, deadline: c.deadline + 1 })).toMatchObject({ code: "signature" });
  });

  it("refuses past deadlines and deadlines too far ahead", async () => {
    expect(await check(await sign(owner, { deadline: BigInt(now) }))).toMatchObject({ code: "expired" });
    expect(await check(await sign(owner, { deadline: BigInt(now + 7200) }))).toMatchObject({
      code: "expired",
    });
  });

  it("refuses the high-s twin of a valid signature (the contract would)", async () => {
    const c = await sign();
    const sig = c.signature as Hex;
    const n = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
    const highS = numberToHex(n - hexToBigInt(slice(sig, 32, 64)), { size: 32 });
    const v = Number.parseInt(sig.slice(130), 16) === 27 ? "1c" : "1b";
    const twin = `${slice(sig, 0, 32)}${highS.slice(2)}${v}`;
    expect(await check({ ...c, signature: twin })).toMatchObject({ code: "signature" });
  });
});
