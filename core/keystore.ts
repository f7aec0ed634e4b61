import { createDecipheriv, pbkdf2, scrypt, timingSafeEqual } from "node:crypto";
import { promisify } from "node:util";
import { keccak_256 } from "@noble/hashes/sha3";
import type { Hex } from "viem";
import { privateKeyToAddress } from "viem/accounts";
import { z } from "zod";
import { FormationError } from "../lib/errors";

/**
 * Web3 Secret Storage (v3 JSON keystore, scrypt or pbkdf2 + AES-128-CTR) for the CLI's and the node
 * agent's keys. Files written here open in any Ethereum wallet tool (geth, MetaMask import, ethers,
 * web3.py) and vice versa. Writing goes through ethers, loaded only then (it is ~25 MB of modules a
 * long-running daemon should not hold); reading uses node:crypto, whose native scrypt is much faster
 * than a JavaScript one and releases its 128 MiB work area afterwards.
 */

/** scrypt work factor N. 2^17 is the standard; tests pass a small N to stay fast. */
export const DEFAULT_SCRYPT_N = 131072;

export type TKeystoreErrorCode = "BAD_PASSWORD" | "NOT_A_KEYSTORE" | "BAD_KEY";

export class KeystoreError extends FormationError<TKeystoreErrorCode> {
  override readonly name = "KeystoreError";

  constructor(code: TKeystoreErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(code, message, options);
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
  const { encryptKeystoreJson } = await import("ethers");
  const json = await encryptKeystoreJson({ address, privateKey }, opts.password, {
    scrypt: { N: opts.scryptN ?? DEFAULT_SCRYPT_N },
  });
  return { json, address };
}

const ZHex = z.string().regex(/^(0x)?[0-9a-fA-F]*$/);
const ZCrypto = z.object({
  cipher: z.literal("aes-128-ctr"),
  cipherparams: z.object({ iv: ZHex }),
  ciphertext: ZHex,
  kdf: z.enum(["scrypt", "pbkdf2"]),
  kdfparams: z.union([
    z.object({
      dklen: z.number().int(),
      n: z.number().int(),
      r: z.number().int(),
      p: z.number().int(),
      salt: ZHex,
    }),
    z.object({ dklen: z.number().int(), c: z.number().int(), prf: z.literal("hmac-sha256"), salt: ZHex }),
  ]),
  mac: ZHex,
});
/** Web3 Secret Storage v3; geth writes `crypto`, ethers writes `Crypto`. */
const ZKeystore = z.object({ version: z.literal(3), crypto: ZCrypto.optional(), Crypto: ZCrypto.optional() });

const bytes = (hex: string) => Buffer.from(hex.replace(/^0x/, ""), "hex");
const scryptAsync = promisify(scrypt) as (
  password: Buffer,
  salt: Buffer,
  keylen: number,
  options: { N: number; r: number; p: number; maxmem: number },
) => Promise<Buffer>;
const pbkdf2Async = promisify(pbkdf2);

function parseKeystore(json: string): z.infer<typeof ZCrypto> {
  let parsed: z.infer<typeof ZKeystore>;
  try {
    parsed = ZKeystore.parse(JSON.parse(json));
  } catch (cause) {
    throw new KeystoreError("NOT_A_KEYSTORE", "This file is not a Web3 Secret Storage (v3) keystore", {
      cause,
    });
  }
  const crypto = parsed.crypto ?? parsed.Crypto;
  if (!crypto) throw new KeystoreError("NOT_A_KEYSTORE", "This keystore has no crypto section");
  return crypto;
}

/** Decrypts a keystore; throws KeystoreError BAD_PASSWORD / NOT_A_KEYSTORE / BAD_KEY. */
export async function openKeystore(opts: {
  json: string;
  password: string;
}): Promise<{ privateKey: Hex; address: Hex }> {
  const crypto = parseKeystore(opts.json);
  const params = crypto.kdfparams;
  const secret = Buffer.from(opts.password.normalize("NFKC"), "utf8");
  const derived =
    "n" in params
      ? await scryptAsync(secret, bytes(params.salt), params.dklen, {
          N: params.n,
          r: params.r,
          p: params.p,
          maxmem: 256 * params.n * params.r + 32 * 1024 * 1024,
        })
      : await pbkdf2Async(secret, bytes(params.salt), params.c, params.dklen, "sha256");
  const ciphertext = bytes(crypto.ciphertext);
  const mac = Buffer.from(keccak_256(Buffer.concat([derived.subarray(16, 32), ciphertext])));
  const expected = bytes(crypto.mac);
  if (mac.length !== expected.length || !timingSafeEqual(mac, expected)) {
    throw new KeystoreError("BAD_PASSWORD", "Wrong password (or a damaged keystore)");
  }
  const decipher = createDecipheriv("aes-128-ctr", derived.subarray(0, 16), bytes(crypto.cipherparams.iv));
  const key = Buffer.concat([decipher.update(ciphertext), decipher.final()]);
  if (key.length !== 32)
    throw new KeystoreError("BAD_KEY", `The keystore holds a ${key.length}-byte key, not 32`);
  const privateKey = normaliseKey(key.toString("hex"));
  return { privateKey, address: privateKeyToAddress(privateKey) };
}
