import { createHash, createPublicKey, type KeyObject, verify } from "node:crypto";
import { type Hex, hexToBytes, recoverPublicKey } from "viem";
import { publicKeyToAddress } from "viem/accounts";

/** Digest a v2 envelope signature covers: SHA-256 of the signing message (UTF-8). */
export function envelopeDigest(message: string): Buffer {
  return createHash("sha256").update(message, "utf8").digest();
}

// Past this many distinct signers the oldest key is forgotten (it is recovered again when it next
// signs), so a flood of throwaway keys cannot grow memory without limit.
const MAX_KEYS = 4096;

/**
 * Public keys of signers seen so far, as native (OpenSSL) key objects. Recovering the key from a
 * signature costs ~2 ms in pure JS; verifying against a known key with OpenSSL costs ~0.3 ms. So
 * the first valid signature of an address is checked by recovery (which proves the key belongs to
 * the address) and every later one by native verification against the remembered key.
 */
export class SignerKeys {
  readonly #keys = new Map<string, KeyObject>();
  // Signed batch roots already verified ("signer message signature"): the other changes of a batch
  // then cost only their Merkle path. The signature is part of the id, so an envelope can never be
  // accepted (and then logged and relayed) with another signature than the one that was checked.
  readonly #verified = new Set<string>();

  get size(): number {
    return this.#keys.size;
  }

  /** Remembers `publicKey` (uncompressed 0x04… hex) under the address it hashes to. */
  remember(publicKey: Hex): string {
    const address = publicKeyToAddress(publicKey).toLowerCase();
    if (!this.#keys.has(address)) this.#store(address, nativeKey(publicKey));
    return address;
  }

  /**
   * True iff `signature` (65-byte r‖s‖v hex) signs `message` with `signer`'s key (lower-case
   * address). Never throws on garbage input. With `remember`, a verified (signer, message,
   * signature) is kept and later calls for exactly it succeed without checking again.
   */
  async verify(opts: {
    signer: string;
    message: string;
    signature: string;
    remember?: boolean;
  }): Promise<boolean> {
    const id = `${opts.signer} ${opts.message} ${opts.signature}`;
    if (opts.remember && this.#verified.has(id)) return true;
    const ok = await this.#check(opts);
    if (ok && opts.remember) {
      if (this.#verified.size >= MAX_KEYS) {
        const oldest = this.#verified.values().next().value;
        if (oldest !== undefined) this.#verified.delete(oldest);
      }
      this.#verified.add(id);
    }
    return ok;
  }

  async #check(opts: { signer: string; message: string; signature: string }): Promise<boolean> {
    const known = this.#keys.get(opts.signer);
    if (known) {
      try {
        const rs = Buffer.from(opts.signature.slice(2, 130), "hex");
        return verify(
          "sha256",
          Buffer.from(opts.message, "utf8"),
          { key: known, dsaEncoding: "ieee-p1363" },
          rs,
        );
      } catch {
        return false;
      }
    }
    return this.#recover(opts.signer, envelopeDigest(opts.message), opts.signature);
  }

  async #recover(signer: string, digest: Buffer, signature: string): Promise<boolean> {
    let publicKey: Hex;
    try {
      publicKey = await recoverPublicKey({ hash: digest, signature: signature as Hex });
    } catch {
      return false;
    }
    if (publicKeyToAddress(publicKey).toLowerCase() !== signer) return false;
    this.#store(signer, nativeKey(publicKey));
    return true;
  }

  #store(address: string, key: KeyObject): void {
    if (this.#keys.size >= MAX_KEYS) {
      const oldest = this.#keys.keys().next().value;
      if (oldest !== undefined) this.#keys.delete(oldest);
    }
    this.#keys.set(address, key);
  }
}

// OpenSSL takes secp256k1 public keys as JWK (x, y from the uncompressed point).
function nativeKey(publicKey: Hex): KeyObject {
  const point = hexToBytes(publicKey);
  if (point.length !== 65 || point[0] !== 4) throw new RangeError("expected an uncompressed secp256k1 key");
  const coord = (from: number) => Buffer.from(point.slice(from, from + 32)).toString("base64url");
  return createPublicKey({ key: { kty: "EC", crv: "secp256k1", x: coord(1), y: coord(33) }, format: "jwk" });
}
