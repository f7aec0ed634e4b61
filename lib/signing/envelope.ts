import { z } from "zod";

type THex = `0x${string}`;

const hexOf = (pattern: RegExp, message: string) =>
  z.custom<THex>((v) => typeof v === "string" && pattern.test(v), message);

export const ZAddress = hexOf(/^0x[0-9a-fA-F]{40}$/, "expected a 0x-prefixed 20-byte address").transform(
  (a): THex => `0x${a.slice(2).toLowerCase()}`,
);

export const ZBytes32 = hexOf(/^0x[0-9a-fA-F]{64}$/, "expected a 0x-prefixed 32-byte hex value").transform(
  (d): THex => `0x${d.slice(2).toLowerCase()}`,
);

export const ZSignature = hexOf(/^0x[0-9a-fA-F]{130}$/, "expected a 65-byte hex signature");

/** Client-chosen nonce: 128 random bits as 32 lowercase hex characters. */
export const ZActionNonce = z.string().regex(/^[0-9a-f]{32}$/, "nonce must be 32 lowercase hex characters");

/**
 * A signed request as sent to the console: everything needed to rebuild the EIP-712 typed data
 * and check it. `params` is validated by the receiving procedure's own schema.
 */
export const ZSignedAction = z.object({
  action: z.string().min(1).max(64),
  params: z.unknown(),
  contentDigest: ZBytes32,
  origin: z.string().min(1).max(256),
  chainId: z.number().int().positive(),
  nonce: ZActionNonce,
  expiresAt: z.number().int().positive(),
  signer: ZAddress,
  signature: ZSignature,
});

export type TSignedAction = z.infer<typeof ZSignedAction>;

/** Envelope schema whose params are validated by `params` and whose action is fixed. */
export function signedActionSchema<TName extends string, TParams extends z.ZodType>(
  action: TName,
  params: TParams,
) {
  return ZSignedAction.extend({ action: z.literal(action), params });
}
