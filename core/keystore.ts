import { decryptKeystoreJson, encryptKeystoreJson, isKeystoreJson } from "ethers";
import type { Hex } from "viem";
import { privateKeyToAddress } from "viem/accounts";

/**
 * Web3 Secret Storage (v3 JSON keystore, scrypt + AES-128-CTR) for the CLI's and the node agent's
 * keys, through ethers (the one place ethers is used). Files written here open in any Ethereum
 * wallet tool (geth, MetaMask import, ethers, web3.py) and vice versa.
 */

/** scrypt work factor N. 2^17 is the standard; tests pass a small N to stay fast. */
export const DEFAULT_SCRYPT_N = 131072;

export type TKeystoreErrorCode = "BAD_PASSWORD" | "NOT_A_KEYSTORE" | "BAD_KEY";

export class KeystoreError extends Error {
  override readonly name = "KeystoreError";
  readonly code: TKeystoreErrorCode;

  constructor(code: TKeystoreErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

function normaliseKey(privateKey: string): Hex {
  const hex = privateKey.startsWith("0x") ? privateKey.slice(2) : privateKey;
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) throw new KeystoreError("BAD_KEY", "A private key is 32 bytes of hex");
  return `0x${hex.toLowerCase()}`;
}

/** Encrypts `privateKey` with `password`; returns the keystore JSON text and the key's address. */
export async function createKeystore(opts: {
  privateKey: string;
  password: string;
  /** scrypt N (power of two); default DEFAULT_SCRYPT_N. */
  scryptN?: number;
}): Promise<{ json: string; address: Hex }> {
  const privateKey = normaliseKey(opts.privateKey);
  const address = privateKeyToAddress(privateKey);
  const json = await encryptKeystoreJson({ address, privateKey }, opts.password, {
    scrypt: { N: opts.scryptN ?? DEFAULT_SCRYPT_N },
  });
  return { json, address };
}

/** Decrypts a keystore; throws KeystoreError BAD_PASSWORD / NOT_A_KEYSTORE. */
export async function openKeystore(opts: {
  json: string;
  password: string;
}): Promise<{ privateKey: Hex; address: Hex }> {
  if (!isKeystoreJson(opts.json)) {
    throw new KeystoreError("NOT_A_KEYSTORE", "This file is not a Web3 Secret Storage (v3) keystore");
  }
  try {
    const account = await decryptKeystoreJson(opts.json, opts.password);
    const privateKey = normaliseKey(account.privateKey);
    return { privateKey, address: privateKeyToAddress(privateKey) };
  } catch (cause) {
    throw new KeystoreError("BAD_PASSWORD", "Wrong password (or a damaged keystore)", { cause });
  }
}
