import { createDecipheriv, pbkdf2, scrypt, timingSafeEqual } from "node:crypto";
import { promisify } from "node:util";
import { keccak_256 } from "@noble/hashes/sha3";
import type { Hex } from "viem";
import { z } from "zod";

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

/**
 * Decrypt a Web3 Secret Storage v3 keystore with node:crypto. The daemon unlocks its key once at
 * start; native scrypt takes a fraction of the time of a JavaScript implementation and its
 * 128 MiB work area is released afterwards instead of staying in the process's resident set.
 */
export async function decryptKeystore(json: string, password: string): Promise<Hex> {
  const parsed = ZKeystore.parse(JSON.parse(json));
  const crypto = parsed.crypto ?? parsed.Crypto;
  if (!crypto) throw new Error("keystore has no crypto section");
  const params = crypto.kdfparams;
  const secret = Buffer.from(password.normalize("NFKC"), "utf8");
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
    throw new Error("keystore MAC mismatch: wrong password");
  }
  const decipher = createDecipheriv("aes-128-ctr", derived.subarray(0, 16), bytes(crypto.cipherparams.iv));
  const key = Buffer.concat([decipher.update(ciphertext), decipher.final()]);
  if (key.length !== 32) throw new Error(`keystore holds a ${key.length}-byte key, expected 32`);
  return `0x${key.toString("hex")}`;
}
