import { type Hex, verifyMessage } from "viem";

/**
 * Agent admission: the console sends a random nonce over the freshly opened agent WebSocket; the
 * agent answers with an EIP-191 (personal_sign) signature of this text with its operator key. The
 * text names the console origin so a challenge cannot be relayed to another console.
 */
export function buildAgentChallenge(nonce: string, origin: string): string {
  return [
    "Formation node agent admission",
    `Console: ${origin}`,
    `Nonce: ${nonce}`,
    "Signing proves control of this operator key to the console above.",
  ].join("\n");
}

/** True when `signature` is `address`'s personal_sign of the challenge for `nonce` and `origin`. */
export async function verifyAgentChallenge(opts: {
  nonce: string;
  origin: string;
  address: Hex;
  signature: Hex;
}): Promise<boolean> {
  try {
    return await verifyMessage({
      address: opts.address,
      message: buildAgentChallenge(opts.nonce, opts.origin),
      signature: opts.signature,
    });
  } catch {
    // Malformed signatures make viem throw; for admission that is simply "not verified".
    return false;
  }
}
