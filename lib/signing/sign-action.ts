import type { Hex, LocalAccount } from "viem";
import { MAX_ACTION_TTL_SECONDS } from "./actions";
import { lowerAddress } from "./address";
import type { TSignedAction } from "./envelope";
import { buildActionTypedData, ZERO_DIGEST } from "./typed-data";

/** 128 random bits as 32 lowercase hex characters (Web Crypto, so it runs in browsers too). */
export function randomNonce(): string {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export type TSignActionOptions = {
  action: string;
  params: unknown;
  origin: string;
  chainId: number;
  contentDigest?: Hex;
  /** Defaults to a fresh random nonce. */
  nonce?: string;
  /** Lifetime in seconds (default 120, at most MAX_ACTION_TTL_SECONDS). */
  ttlSeconds?: number;
  /** Unix seconds; defaults to the local clock. */
  now?: number;
};

/** A signer: a viem LocalAccount, or anything with the same `signTypedData` (e.g. a wallet client). */
export type TTypedDataSigner = Pick<LocalAccount, "address" | "signTypedData">;

/** Signs an action and returns the envelope to send as the procedure input. */
export async function signAction(
  account: TTypedDataSigner,
  opts: TSignActionOptions,
): Promise<TSignedAction> {
  const now = opts.now ?? Math.floor(Date.now() / 1000);
  const ttl = Math.min(opts.ttlSeconds ?? 120, MAX_ACTION_TTL_SECONDS);
  const fields = {
    action: opts.action,
    params: opts.params,
    contentDigest: opts.contentDigest ?? ZERO_DIGEST,
    origin: opts.origin,
    nonce: opts.nonce ?? randomNonce(),
    expiresAt: now + ttl,
    chainId: opts.chainId,
  };
  const signature = await account.signTypedData(buildActionTypedData(fields));
  return {
    ...fields,
    contentDigest: `0x${fields.contentDigest.slice(2).toLowerCase()}`,
    signer: lowerAddress(account.address),
    signature,
  };
}
