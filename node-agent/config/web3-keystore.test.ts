import { encryptKeystoreJson, Wallet } from "ethers";
import { describe, expect, it } from "vitest";
import { decryptKeystore } from "./web3-keystore";

const privateKey = `0x${"4c".repeat(32)}`;

describe("decryptKeystore", () => {
  it("reads an ethers-written scrypt keystore and rejects a wrong password", async () => {
    // Low scrypt cost keeps the unit test fast; the format is the same as with the default cost.
    const { address } = new Wallet(privateKey);
    const json = await encryptKeystoreJson({ address, privateKey }, "correct horse", { scrypt: { N: 1024 } });
    expect(await decryptKeystore(json, "correct horse")).toBe(privateKey);
    await expect(decryptKeystore(json, "wrong horse")).rejects.toThrow(/wrong password/);
  });

  it("rejects files that are not Web3 Secret Storage v3", async () => {
    await expect(decryptKeystore(JSON.stringify({ version: 1 }), "x")).rejects.toThrow();
  });
});
