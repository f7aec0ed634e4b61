import { sha512 } from "@noble/hashes/sha2";

/**
 * SHA-512 crypt (`$6$`), the glibc algorithm specified by Ulrich Drepper ("Unix crypt using SHA-256 and
 * SHA-512"), implemented on @noble/hashes so it runs unchanged in the browser, the console and the CLI.
 * cloud-init and /etc/shadow accept its output as-is.
 */

const ITOA64 = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const SALT_MAX = 16;
const ROUNDS_DEFAULT = 5000;
const ROUNDS_MIN = 1000;
const ROUNDS_MAX = 999_999_999;

/** Characters allowed in a crypt salt (the crypt base-64 alphabet). */
export const CRYPT_SALT_PATTERN = /^[./0-9A-Za-z]{1,16}$/;

function repeatTo(source: Uint8Array, length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i += source.length)
    out.set(source.subarray(0, Math.min(source.length, length - i)), i);
  return out;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

function encode(digest: Uint8Array): string {
  let out = "";
  const push = (b2: number, b1: number, b0: number, n: number): void => {
    let w = (b2 << 16) | (b1 << 8) | b0;
    for (let i = 0; i < n; i++) {
      out += ITOA64[w & 0x3f];
      w >>= 6;
    }
  };
  const at = (i: number): number => digest[i] ?? 0;
  // The spec permutes the 64 digest bytes in 21 triples (i, i+21, i+42), rotated by i mod 3.
  for (let i = 0; i < 21; i++) {
    const a = at(i);
    const b = at(i + 21);
    const c = at(i + 42);
    if (i % 3 === 0) push(a, b, c, 4);
    else if (i % 3 === 1) push(b, c, a, 4);
    else push(c, a, b, 4);
  }
  push(0, 0, at(63), 2);
  return out;
}

/** Parses a `$6$[rounds=N$]salt[$…]` setting into its salt and rounds (clamped like glibc). */
function parseSetting(setting: string): { salt: string; rounds: number; customRounds: boolean } {
  if (!setting.startsWith("$6$")) throw new Error("sha512Crypt setting must start with $6$");
  let rest = setting.slice(3);
  let rounds = ROUNDS_DEFAULT;
  let customRounds = false;
  const match = /^rounds=(\d+)\$/.exec(rest);
  if (match?.[1] !== undefined) {
    rounds = Math.min(ROUNDS_MAX, Math.max(ROUNDS_MIN, Number(match[1])));
    customRounds = true;
    rest = rest.slice(match[0].length);
  }
  const end = rest.indexOf("$");
  const salt = (end === -1 ? rest : rest.slice(0, end)).slice(0, SALT_MAX);
  return { salt, rounds, customRounds };
}

/**
 * Hashes `password` with SHA-512 crypt. `setting` is `$6$salt` or `$6$rounds=N$salt` (any trailing
 * `$hash` is ignored, so an existing hash can be passed to verify a password).
 */
export function sha512Crypt(password: string, setting: string): string {
  const { salt, rounds, customRounds } = parseSetting(setting);
  const enc = new TextEncoder();
  const p = enc.encode(password);
  const s = enc.encode(salt);

  const b = sha512(concat(p, s, p));
  const a = sha512.create().update(p).update(s);
  let i = p.length;
  for (; i > 64; i -= 64) a.update(b);
  a.update(b.subarray(0, i));
  for (i = p.length; i > 0; i >>= 1) a.update(i & 1 ? b : p);
  const da = a.digest();

  const dpCtx = sha512.create();
  for (i = 0; i < p.length; i++) dpCtx.update(p);
  const pBytes = repeatTo(dpCtx.digest(), p.length);

  const dsCtx = sha512.create();
  for (i = 0; i < 16 + (da[0] ?? 0); i++) dsCtx.update(s);
  const sBytes = dsCtx.digest().subarray(0, s.length);

  let c = da;
  for (let r = 0; r < rounds; r++) {
    const ctx = sha512.create();
    ctx.update(r & 1 ? pBytes : c);
    if (r % 3 !== 0) ctx.update(sBytes);
    if (r % 7 !== 0) ctx.update(pBytes);
    ctx.update(r & 1 ? c : pBytes);
    c = ctx.digest();
  }
  const prefix = customRounds ? `$6$rounds=${rounds}$` : "$6$";
  return `${prefix}${salt}$${encode(c)}`;
}

/** A random 16-character crypt salt from `globalThis.crypto.getRandomValues` (Node 20 and browsers). */
export function randomCryptSalt(): string {
  const bytes = new Uint8Array(SALT_MAX);
  globalThis.crypto.getRandomValues(bytes);
  // 256 is a multiple of 64, so `byte & 63` is uniform over the alphabet.
  return Array.from(bytes, (byte) => ITOA64[byte & 0x3f]).join("");
}

/** Checks `password` against an existing `$6$` hash in constant time over the encoded strings. */
export function verifySha512Crypt(password: string, hash: string): boolean {
  const candidate = sha512Crypt(password, hash);
  if (candidate.length !== hash.length) return false;
  let diff = 0;
  for (let i = 0; i < hash.length; i++) diff |= candidate.charCodeAt(i) ^ hash.charCodeAt(i);
  return diff === 0;
}

/**
 * A crypt salt derived from the owner's address, so the same Formfile and context from the same
 * owner canonicalise to the same bytes (and hence the same content-addressed build id), while the
 * same password of two different owners still hashes differently.
 */
export function ownerCryptSalt(owner: string): string {
  const digest = sha512(new TextEncoder().encode(`formation/v1/passwd-salt/${owner.toLowerCase()}`));
  return Array.from(digest.subarray(0, SALT_MAX), (byte) => ITOA64[byte & 0x3f]).join("");
}
