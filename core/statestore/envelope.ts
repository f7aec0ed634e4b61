import * as Automerge from "@automerge/automerge";
import type { LocalAccount } from "viem";
import { bytesToHex, recoverMessageAddress } from "viem";
import { z } from "zod";
import type { TRejectCode } from "../../lib/statestore/authorize";
import { ZEntityKey } from "../../lib/statestore/entities";
import { envelopeDigest, SignerKeys } from "./signer-keys";

const ZHash = z.string().regex(/^[0-9a-f]{64}$/);

/**
 * Envelope versions (see signingMessage): absent = 1, an Ethereum personal_sign (keccak) signature,
 * verified by recovering the address; 2 = ECDSA secp256k1 over SHA-256, verified natively against
 * the signer's remembered public key. Other values are refused with `bad-version`.
 */
export const ENVELOPE_VERSIONS = [1, 2] as const;
export const CURRENT_ENVELOPE_VERSION = 2;

/** A signed change as it travels and as it is logged: the Automerge change plus who vouches for it. */
export const ZEnvelope = z.object({
  v: z.number().int().positive().optional(),
  key: ZEntityKey,
  hash: ZHash,
  signer: z.string().regex(/^0x[0-9a-f]{40}$/),
  signature: z.string().regex(/^0x[0-9a-fA-F]{130}$/),
  change: z.string().min(1).max(4_000_000),
});
export type TEnvelope = z.infer<typeof ZEnvelope>;

/** An envelope whose bytes, hash, actor and signature have been checked by this process. */
export type TVerifiedChange = {
  envelope: TEnvelope;
  bytes: Uint8Array;
  decoded: Automerge.DecodedChange;
};

export type TOpenResult =
  | { ok: true; change: TVerifiedChange }
  | { ok: false; code: TRejectCode; detail: string };

/**
 * The signed text binds the entity key to the change hash, so a valid change of one entity cannot
 * be replayed into another entity's document (a root change has no deps tying it to a document).
 */
export function signingMessage(key: string, hash: string, version = CURRENT_ENVELOPE_VERSION): string {
  return `formation-statestore/v${version} ${key} ${hash}`;
}

// Public keys learnt from verified signatures, shared by every store in this process.
const signerKeys = new SignerKeys();

/**
 * Actor ids embed the writer's address (20 bytes) plus a per-session nonce (12 bytes), so a writer
 * can only consume its own (actor, seq) slots and cannot block another writer's sequence numbers.
 */
export function actorFor(address: string, nonce: Uint8Array): string {
  if (nonce.length !== 12) throw new RangeError("actor nonce must be 12 bytes");
  return address.slice(2).toLowerCase() + Buffer.from(nonce).toString("hex");
}

/**
 * Signs an Automerge change made by `account` for entity `key`: a v2 envelope when the account can
 * sign a raw hash (every private-key account), else a v1 personal_sign envelope.
 */
export async function sealChange(opts: {
  account: LocalAccount;
  key: string;
  bytes: Uint8Array;
}): Promise<TVerifiedChange> {
  const decoded = Automerge.decodeChange(opts.bytes);
  const { account } = opts;
  let signature: `0x${string}`;
  let version: number;
  if (account.sign) {
    version = CURRENT_ENVELOPE_VERSION;
    const message = signingMessage(opts.key, decoded.hash, version);
    signature = await account.sign({ hash: bytesToHex(envelopeDigest(message)) });
  } else {
    version = 1;
    signature = await account.signMessage({ message: signingMessage(opts.key, decoded.hash, 1) });
  }
  const envelope: TEnvelope = {
    ...(version === 1 ? {} : { v: version }),
    key: opts.key,
    hash: decoded.hash,
    signer: opts.account.address.toLowerCase(),
    signature,
    change: Buffer.from(opts.bytes).toString("base64"),
  };
  return { envelope, bytes: opts.bytes, decoded };
}

/**
 * Checks an envelope received from anywhere (peer or disk): the bytes decode, their hash is the
 * signed hash, the actor belongs to the signer and the signature is the signer's. It does not
 * decide authorization: that needs the document (see authorizeWrite).
 */
export async function openEnvelope(envelope: TEnvelope): Promise<TOpenResult> {
  const version = envelope.v ?? 1;
  if (version !== 1 && version !== 2) {
    return {
      ok: false,
      code: "bad-version",
      detail: `envelope version ${version} is unknown (this replica reads ${ENVELOPE_VERSIONS.join(", ")})`,
    };
  }
  const bytes = new Uint8Array(Buffer.from(envelope.change, "base64"));
  let decoded: Automerge.DecodedChange;
  try {
    decoded = Automerge.decodeChange(bytes);
  } catch (error) {
    return { ok: false, code: "malformed", detail: `change bytes do not decode: ${String(error)}` };
  }
  if (decoded.hash !== envelope.hash) {
    return {
      ok: false,
      code: "bad-hash",
      detail: `bytes hash to ${decoded.hash}, envelope says ${envelope.hash}`,
    };
  }
  if (!decoded.actor.startsWith(envelope.signer.slice(2))) {
    return {
      ok: false,
      code: "actor-mismatch",
      detail: `actor ${decoded.actor} is not ${envelope.signer}'s`,
    };
  }
  const signed =
    version === 1
      ? await legacySignatureValid(envelope)
      : await signerKeys.verify({
          signer: envelope.signer,
          message: signingMessage(envelope.key, envelope.hash, 2),
          signature: envelope.signature,
        });
  if (!signed) {
    return {
      ok: false,
      code: "bad-signature",
      detail: `v${version} signature over ${envelope.key} ${envelope.hash} is not ${envelope.signer}'s`,
    };
  }
  return { ok: true, change: { envelope, bytes, decoded } };
}

// v1 envelopes (written before v2, or by accounts without raw-hash signing) recover the address.
async function legacySignatureValid(envelope: TEnvelope): Promise<boolean> {
  try {
    const recovered = await recoverMessageAddress({
      message: signingMessage(envelope.key, envelope.hash, 1),
      signature: envelope.signature as `0x${string}`,
    });
    return recovered.toLowerCase() === envelope.signer;
  } catch {
    return false;
  }
}
