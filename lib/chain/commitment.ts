import { type Address, type Hex, hexToBigInt, recoverTypedDataAddress, slice } from "viem";
import { z } from "zod";
import { buildCommitmentTypedData, type TBuildCommitmentMessage } from "./build-commitment";

/**
 * The build commitment a client attaches to `instance.ship` (inside the signed params), and the pure
 * checks the console runs on it before anything changes. The console's ids are plain hex (build id,
 * 64 digits) and `sha256:<hex>` (image digest); the contract takes both as bytes32.
 */

/** Longest accepted distance between now and a commitment's deadline, in seconds. */
export const MAX_COMMITMENT_TTL_SECONDS = 3600;
/** Deadline clients put on a commitment: short, the console relays it right away. */
export const COMMITMENT_TTL_SECONDS = 600;

const SECP256K1_HALF_N = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0n;

/** Owner's EIP-712 BuildCommitment as sent in `instance.ship` params (owner = the ship's signer). */
export const ZSignedCommitment = z.object({
  /** bytes32 image digest the owner signed (0x + 64 hex). */
  imageDigest: z.string().regex(/^0x[0-9a-f]{64}$/, "imageDigest is 0x + 64 lower-case hex digits"),
  /** `commitNonces(owner)` when signing, as a decimal string (JSON has no bigint). */
  nonce: z.string().regex(/^\d{1,78}$/, "nonce is a decimal integer"),
  /** Unix seconds. */
  deadline: z.number().int().positive(),
  signature: z.string().regex(/^0x[0-9a-fA-F]{130}$/, "signature is 65 bytes of hex"),
});
export type TSignedCommitment = z.infer<typeof ZSignedCommitment>;

const hexOf = (pattern: RegExp, message: string) =>
  z.custom<Hex>((v) => typeof v === "string" && pattern.test(v), message);
const ZAddressHex = z.custom<Address>((v) => typeof v === "string" && /^0x[0-9a-fA-F]{40}$/.test(v));

/** What a client needs to sign a commitment, as the console hands it out (`instances.commitmentDraft`). */
export const ZCommitmentDraft = z.object({
  chainId: z.number().int().positive(),
  contract: ZAddressHex,
  owner: ZAddressHex,
  buildId: hexOf(/^0x[0-9a-f]{64}$/, "buildId is bytes32"),
  imageDigest: hexOf(/^0x[0-9a-f]{64}$/, "imageDigest is bytes32"),
  nonce: z.string().regex(/^\d{1,78}$/),
  deadline: z.number().int().positive(),
});
export type TCommitmentDraft = z.infer<typeof ZCommitmentDraft>;

/** The console's build id (64 hex digits, optionally 0x-prefixed) as the contract's bytes32. */
export function buildIdToBytes32(buildId: string): Hex {
  const hex = buildId.toLowerCase().replace(/^0x/, "");
  if (!/^[0-9a-f]{64}$/.test(hex)) throw new Error(`not a build id: ${buildId}`);
  return `0x${hex}`;
}

/** An image digest `sha256:<64 hex>` as the contract's bytes32. */
export function imageDigestToBytes32(digest: string): Hex {
  const match = /^sha256:([0-9a-f]{64})$/.exec(digest);
  if (!match?.[1]) throw new Error(`not a sha256 image digest: ${digest}`);
  return `0x${match[1]}`;
}

/** The contract's bytes32 image digest as the console writes it (`sha256:<hex>`). */
export function imageDigestFromBytes32(hex: Hex): string {
  return `sha256:${hex.slice(2).toLowerCase()}`;
}

/** The typed-data message a draft describes (bigints for signing). */
export function draftMessage(draft: TCommitmentDraft): TBuildCommitmentMessage {
  return {
    owner: draft.owner,
    buildId: draft.buildId,
    imageDigest: draft.imageDigest,
    nonce: BigInt(draft.nonce),
    deadline: BigInt(draft.deadline),
  };
}

export type TCommitmentProblem =
  | { code: "digest"; message: string }
  | { code: "expired"; message: string }
  | { code: "signature"; message: string };

/**
 * Checks a commitment offline against what the console knows: the ship's signer is the owner, the
 * build id is the one shipped, the digest is the build's, the deadline is in a sane window and the
 * signature recovers to the owner (low-s only, as the contract requires). Returns the problem, or
 * null when the commitment will be accepted by `commitBuildFor` (nonce permitting).
 */
export async function checkSignedCommitment(opts: {
  commitment: TSignedCommitment;
  owner: Address;
  buildId: string;
  imageDigest: string;
  chainId: number;
  contract: Address;
  /** Unix seconds. */
  now: number;
}): Promise<TCommitmentProblem | null> {
  const c = opts.commitment;
  const expected = imageDigestToBytes32(opts.imageDigest);
  if (c.imageDigest !== expected) {
    return {
      code: "digest",
      message: `the commitment is for image ${c.imageDigest}, but build ${opts.buildId} has image ${expected}`,
    };
  }
  if (c.deadline <= opts.now) return { code: "expired", message: "the commitment's deadline has passed" };
  if (c.deadline > opts.now + MAX_COMMITMENT_TTL_SECONDS) {
    return {
      code: "expired",
      message: `the commitment's deadline may be at most ${MAX_COMMITMENT_TTL_SECONDS} s ahead`,
    };
  }
  const signature = c.signature as Hex;
  if (hexToBigInt(slice(signature, 32, 64)) > SECP256K1_HALF_N) {
    return { code: "signature", message: "the commitment signature is not in low-s form" };
  }
  const message = {
    owner: opts.owner,
    buildId: buildIdToBytes32(opts.buildId),
    imageDigest: expected,
    nonce: BigInt(c.nonce),
    deadline: BigInt(c.deadline),
  };
  let recovered: Address;
  try {
    recovered = await recoverTypedDataAddress({
      ...buildCommitmentTypedData({ chainId: opts.chainId, contract: opts.contract, message }),
      signature,
    });
  } catch {
    return { code: "signature", message: "the commitment signature could not be verified" };
  }
  if (recovered.toLowerCase() !== opts.owner.toLowerCase()) {
    return {
      code: "signature",
      message:
        "the commitment is not signed by the ship's signer for this build, digest, nonce and deadline on this chain",
    };
  }
  return null;
}
