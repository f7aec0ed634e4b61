import * as Automerge from "@automerge/automerge";
import type { LocalAccount } from "viem";
import { bytesToHex, recoverMessageAddress } from "viem";
import { z } from "zod";
import type { TRejectCode } from "../../lib/statestore/authorize";
import { ZEntityKey } from "../../lib/statestore/entities";
import { MAX_PROOF_STEPS, merkleTree, rootFromProof, type TProofStep } from "./merkle";
import { envelopeDigest, SignerKeys } from "./signer-keys";

const ZHash = z.string().regex(/^[0-9a-f]{64}$/);

/**
 * Envelope versions (see signingMessage): absent = 1, an Ethereum personal_sign (keccak) signature,
 * verified by recovering the address; 2 = ECDSA secp256k1 over SHA-256, verified natively against
 * the signer's remembered public key, either of the change itself or (with `proof`) of the Merkle
 * root of the writer's batch. Other values are refused with `bad-version`.
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
  /** v2 batches: path from this change's leaf to the signed root (see merkle.ts). */
  proof: z
    .array(z.custom<TProofStep>((step) => typeof step === "string" && /^[lr][0-9a-f]{64}$/.test(step)))
    .min(1)
    .max(MAX_PROOF_STEPS)
    .optional(),
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

/** What a v2 batch signature signs: its Merkle root ("batch" is no entity key, so no clash). */
export function batchSigningMessage(root: Buffer): string {
  return `formation-statestore/v2 batch ${root.toString("hex")}`;
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

/** A local change before signing (for the writer's own checks; never sent or logged as is). */
export function unsignedChange(signer: string, key: string, bytes: Uint8Array): TVerifiedChange {
  const decoded = Automerge.decodeChange(bytes);
  const change = Buffer.from(bytes).toString("base64");
  return { envelope: { key, hash: decoded.hash, signer, signature: "0x", change }, bytes, decoded };
}

/** Signs an Automerge change made by `account` for entity `key` (see sealChanges). */
export async function sealChange(opts: {
  account: LocalAccount;
  key: string;
  bytes: Uint8Array;
}): Promise<TVerifiedChange> {
  const [sealed] = await sealChanges({ account: opts.account, changes: [opts] });
  if (!sealed) throw new Error("sealChanges returned nothing for one change");
  return sealed;
}

/**
 * Signs a batch of changes made by `account`. v2 (accounts that sign raw hashes, i.e. every
 * private-key account): one signature over the Merkle root of the batch, each envelope carrying
 * its path, so verifying a batch costs one ECDSA check however many changes it holds; a batch of
 * one signs the change's own message. Accounts without raw-hash signing get v1 envelopes, one
 * personal_sign each.
 */
export async function sealChanges(opts: {
  account: LocalAccount;
  changes: readonly { key: string; bytes: Uint8Array }[];
}): Promise<TVerifiedChange[]> {
  const { account } = opts;
  const decoded = opts.changes.map((c) => Automerge.decodeChange(c.bytes));
  const base = (i: number) => {
    const { key, bytes } = opts.changes[i] as { key: string; bytes: Uint8Array };
    const d = decoded[i] as Automerge.DecodedChange;
    return { key, bytes, decoded: d, hash: d.hash, change: Buffer.from(bytes).toString("base64") };
  };
  const out: TVerifiedChange[] = [];
  if (!account.sign) {
    for (let i = 0; i < opts.changes.length; i++) {
      const { key, bytes, decoded: d, hash, change } = base(i);
      const signature = await account.signMessage({ message: signingMessage(key, hash, 1) });
      const envelope: TEnvelope = { key, hash, signer: account.address.toLowerCase(), signature, change };
      out.push({ envelope, bytes, decoded: d });
    }
    return out;
  }
  if (opts.changes.length === 0) return out;
  const leaves = opts.changes.map((_, i) => envelopeDigest(signingMessage(base(i).key, base(i).hash)));
  const { root, proofs } = merkleTree(leaves);
  const signature = await account.sign({
    hash: bytesToHex(opts.changes.length === 1 ? root : envelopeDigest(batchSigningMessage(root))),
  });
  for (let i = 0; i < opts.changes.length; i++) {
    const { key, bytes, decoded: d, hash, change } = base(i);
    const proof = proofs[i] ?? [];
    const envelope: TEnvelope = {
      v: CURRENT_ENVELOPE_VERSION,
      key,
      hash,
      signer: account.address.toLowerCase(),
      signature,
      ...(proof.length > 0 ? { proof } : {}),
      change,
    };
    out.push({ envelope, bytes, decoded: d });
  }
  return out;
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
  const signed = version === 1 ? await legacySignatureValid(envelope) : await v2SignatureValid(envelope);
  if (!signed) {
    return {
      ok: false,
      code: "bad-signature",
      detail: `v${version} signature over ${envelope.key} ${envelope.hash} is not ${envelope.signer}'s`,
    };
  }
  return { ok: true, change: { envelope, bytes, decoded } };
}

function v2SignatureValid(envelope: TEnvelope): Promise<boolean> {
  const message = signingMessage(envelope.key, envelope.hash, 2);
  if (!envelope.proof)
    return signerKeys.verify({ signer: envelope.signer, message, signature: envelope.signature });
  const root = rootFromProof(envelopeDigest(message), envelope.proof);
  return signerKeys.verify({
    signer: envelope.signer,
    message: batchSigningMessage(root),
    signature: envelope.signature,
    remember: true,
  });
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
