import * as Automerge from "@automerge/automerge";
import type { LocalAccount } from "viem";
import { recoverMessageAddress } from "viem";
import { z } from "zod";
import type { TRejectCode } from "../../lib/statestore/authorize";
import { ZEntityKey } from "../../lib/statestore/entities";

const ZHash = z.string().regex(/^[0-9a-f]{64}$/);

/** A signed change as it travels and as it is logged: the Automerge change plus who vouches for it. */
export const ZEnvelope = z.object({
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
export function signingMessage(key: string, hash: string): string {
  return `formation-statestore/v1 ${key} ${hash}`;
}

/**
 * Actor ids embed the writer's address (20 bytes) plus a per-session nonce (12 bytes), so a writer
 * can only consume its own (actor, seq) slots and cannot block another writer's sequence numbers.
 */
export function actorFor(address: string, nonce: Uint8Array): string {
  if (nonce.length !== 12) throw new RangeError("actor nonce must be 12 bytes");
  return address.slice(2).toLowerCase() + Buffer.from(nonce).toString("hex");
}

/** Signs an Automerge change made by `account` for entity `key`. */
export async function sealChange(opts: {
  account: LocalAccount;
  key: string;
  bytes: Uint8Array;
}): Promise<TVerifiedChange> {
  const decoded = Automerge.decodeChange(opts.bytes);
  const signature = await opts.account.signMessage({ message: signingMessage(opts.key, decoded.hash) });
  const envelope: TEnvelope = {
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
 * signed hash, the actor belongs to the signer and the signature recovers to the signer. It does
 * not decide authorization: that needs the document (see authorizeWrite).
 */
export async function openEnvelope(envelope: TEnvelope): Promise<TOpenResult> {
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
  let recovered: string;
  try {
    recovered = await recoverMessageAddress({
      message: signingMessage(envelope.key, envelope.hash),
      signature: envelope.signature as `0x${string}`,
    });
  } catch (error) {
    return { ok: false, code: "bad-signature", detail: `signature does not recover: ${String(error)}` };
  }
  if (recovered.toLowerCase() !== envelope.signer) {
    return {
      ok: false,
      code: "bad-signature",
      detail: `signature recovers to ${recovered}, not ${envelope.signer}`,
    };
  }
  return { ok: true, change: { envelope, bytes, decoded } };
}
