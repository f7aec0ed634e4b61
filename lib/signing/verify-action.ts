import { recoverTypedDataAddress } from "viem";
import { CLOCK_SKEW_SECONDS, MAX_ACTION_TTL_SECONDS } from "./actions";
import { type TSignedAction, ZSignedAction } from "./envelope";
import { SigningError } from "./errors";
import { buildActionTypedData, type TFormationActionTypedData } from "./typed-data";

export type TVerifyActionOptions = {
  /** The envelope as received (unknown: it is parsed here). */
  envelope: unknown;
  /** The action the receiver expects; a signature for another action is rejected. */
  expectedAction?: string;
  origin: string;
  chainId: number;
  /** Unix seconds; defaults to the local clock. */
  now?: number;
  maxTtlSeconds?: number;
};

export type TVerifiedAction = {
  envelope: TSignedAction;
  signer: `0x${string}`;
  typedData: TFormationActionTypedData;
};

/**
 * Checks a signed action: shape, action, origin, chain, expiry window, and that the signature over
 * the rebuilt typed data recovers to `signer`. Throws SigningError. Does NOT check nonce reuse: the
 * receiver must consume the nonce atomically.
 */
export async function verifyAction(opts: TVerifyActionOptions): Promise<TVerifiedAction> {
  const parsed = ZSignedAction.safeParse(opts.envelope);
  if (!parsed.success) {
    throw new SigningError(
      "MALFORMED",
      `Malformed signed request: ${parsed.error.issues[0]?.message ?? "invalid"}`,
    );
  }
  const envelope = parsed.data;
  if (opts.expectedAction !== undefined && envelope.action !== opts.expectedAction) {
    throw new SigningError(
      "WRONG_ACTION",
      `Signature is for "${envelope.action}", this request is "${opts.expectedAction}"`,
    );
  }
  if (envelope.origin !== opts.origin) {
    throw new SigningError(
      "WRONG_ORIGIN",
      `Signed for origin ${envelope.origin}, this console is ${opts.origin}`,
    );
  }
  if (envelope.chainId !== opts.chainId) {
    throw new SigningError(
      "WRONG_CHAIN",
      `Signed for chain ${envelope.chainId}, this console uses ${opts.chainId}`,
    );
  }
  const now = opts.now ?? Math.floor(Date.now() / 1000);
  // The signer chose `expiresAt`: never accept past it. Clock skew is tolerated only on the far
  // side (a signer whose clock runs ahead may put expiresAt a little beyond the longest TTL).
  if (envelope.expiresAt <= now) {
    throw new SigningError("EXPIRED", "Signed request expired: sign it again");
  }
  const maxTtl = opts.maxTtlSeconds ?? MAX_ACTION_TTL_SECONDS;
  if (envelope.expiresAt > now + maxTtl + CLOCK_SKEW_SECONDS) {
    throw new SigningError("EXPIRY_TOO_FAR", `Signed request may expire at most ${maxTtl} s ahead`);
  }
  let typedData: TFormationActionTypedData;
  let recovered: string;
  try {
    typedData = buildActionTypedData(envelope);
    recovered = await recoverTypedDataAddress({ ...typedData, signature: envelope.signature });
  } catch (cause) {
    throw new SigningError("BAD_SIGNATURE", "Signature could not be verified", { cause });
  }
  if (recovered.toLowerCase() !== envelope.signer) {
    throw new SigningError("BAD_SIGNATURE", "Signature does not match the signer and signed fields");
  }
  return { envelope, signer: envelope.signer, typedData };
}
