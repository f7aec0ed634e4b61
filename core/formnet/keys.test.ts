import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ensureKeyFile, generatePrivateKey, publicKeyOf, WireguardKeyError } from "./keys";

const hexToB64 = (hex: string): string => Buffer.from(hex, "hex").toString("base64");

describe("WireGuard keys", () => {
  let dir: string | undefined;
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("derives public keys like X25519 (RFC 7748 test vector)", () => {
    const alicePrivate = hexToB64("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
    expect(publicKeyOf(alicePrivate)).toBe(
      hexToB64("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"),
    );
  });

  it("generates clamped 32-byte keys", () => {
    const raw = Buffer.from(generatePrivateKey(), "base64");
    expect(raw).toHaveLength(32);
    expect((raw[0] ?? 1) & 7).toBe(0);
    expect((raw[31] ?? 0) & 0xc0).toBe(0x40);
  });

  it("creates a 0600 key file once and reuses it", async () => {
    dir = await mkdtemp(join(tmpdir(), "fn-keys-"));
    const path = join(dir, "sub", "wg.key");
    const first = await ensureKeyFile(path);
    const second = await ensureKeyFile(path);
    expect(second.publicKey).toBe(first.publicKey);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect(publicKeyOf(await readFile(path, "utf8"))).toBe(first.publicKey);
  });

  it("rejects a corrupt key file with a typed error", async () => {
    dir = await mkdtemp(join(tmpdir(), "fn-keys-"));
    const path = join(dir, "bad.key");
    await writeFile(path, "not a key\n", { mode: 0o600 });
    await expect(ensureKeyFile(path)).rejects.toBeInstanceOf(WireguardKeyError);
  });
});
