import { createPrivateKey, createPublicKey, randomBytes } from "node:crypto";
import { chmod, mkdir, readFile, stat, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { FormationError } from "../../lib/errors";

// DER prefix of a PKCS#8 X25519 private key; the 32 raw key bytes follow it.
const PKCS8_X25519_PREFIX = Buffer.from("302e020100300506032b656e04220420", "hex");

/** Thrown when a key file is unreadable, malformed or readable by others. */
export class WireguardKeyError extends FormationError<"WIREGUARD_KEY"> {
  override readonly name = "WireguardKeyError";
  constructor(
    readonly path: string,
    problem: string,
    options: { cause?: unknown } = {},
  ) {
    super("WIREGUARD_KEY", `WireGuard key file ${path}: ${problem}`, { details: { path }, ...options });
  }
}

/** A fresh, clamped Curve25519 private key in WireGuard's base64 form (same as `wg genkey`). */
export function generatePrivateKey(): string {
  const key = randomBytes(32);
  key[0] = (key[0] ?? 0) & 248;
  key[31] = ((key[31] ?? 0) & 127) | 64;
  return key.toString("base64");
}

/** Public key of a base64 private key (same as `wg pubkey`). */
export function publicKeyOf(privateKey: string): string {
  const raw = Buffer.from(privateKey.trim(), "base64");
  if (raw.length !== 32) throw new Error("a WireGuard private key is 32 bytes of base64");
  const priv = createPrivateKey({
    key: Buffer.concat([PKCS8_X25519_PREFIX, raw]),
    format: "der",
    type: "pkcs8",
  });
  const spki = createPublicKey(priv).export({ format: "der", type: "spki" });
  return spki.subarray(spki.length - 32).toString("base64");
}

/**
 * Load the private key at `path`, creating it (mode 0600, directory 0700) when absent. The key never
 * leaves this host: only the public key is returned.
 */
export async function ensureKeyFile(path: string): Promise<{ privateKeyPath: string; publicKey: string }> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  try {
    // `wx` fails if the file exists, so two processes racing here never overwrite each other's key.
    await writeFile(path, `${generatePrivateKey()}\n`, { mode: 0o600, flag: "wx" });
  } catch (error) {
    if (!(error instanceof Error && "code" in error && error.code === "EEXIST")) {
      throw new WireguardKeyError(path, "cannot create", { cause: error });
    }
  }
  const info = await stat(path);
  if ((info.mode & 0o077) !== 0) {
    // wg refuses nothing, but a world-readable key is a leak: tighten it rather than fail.
    await chmod(path, 0o600);
  }
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    throw new WireguardKeyError(path, "cannot read", { cause: error });
  }
  try {
    return { privateKeyPath: path, publicKey: publicKeyOf(text) };
  } catch (error) {
    throw new WireguardKeyError(path, "not a base64 WireGuard private key; delete it to generate a new one", {
      cause: error,
    });
  }
}
