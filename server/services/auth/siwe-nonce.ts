import { randomBytes } from "node:crypto";

/**
 * A SIWE nonce from the operating system's CSPRNG: 128 bits as 32 lowercase hex characters
 * (EIP-4361 asks for at least 8 alphanumeric characters). viem's `generateSiweNonce` is built on
 * Math.random, whose consecutive outputs are predictable.
 */
export function newSiweNonce(): string {
  return randomBytes(16).toString("hex");
}
