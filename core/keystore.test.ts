import { encryptKeystoreJson, Wallet } from "ethers";
import { generatePrivateKey, privateKeyToAddress } from "viem/accounts";
import { describe, expect, it } from "vitest";
import { createKeystore, KeystoreError, openKeystore } from "./keystore";

const scryptN = 1024;

describe("keystore", () => {
  it("round-trips a key and reports its address", async () => {
    const privateKey = generatePrivateKey();
    const { json, address } = await createKeystore({ privateKey, password: "correct horse", scryptN });
    expect(address).toBe(privateKeyToAddress(privateKey));
    expect(JSON.parse(json)).toMatchObject({
      version: 3,
      Crypto: { kdf: "scrypt", kdfparams: { n: scryptN } },
    });
    expect(await openKeystore({ json, password: "correct horse" })).toEqual({ privateKey, address });
  });

  it("reads a keystore another tool wrote (ethers' Wallet, as geth and MetaMask exports are)", async () => {
    const privateKey = `0x${"4c".repeat(32)}` as const;
    const { address } = new Wallet(privateKey);
    const json = await encryptKeystoreJson({ address, privateKey }, "correct horse", { scrypt: { N: 1024 } });
    expect((await openKeystore({ json, password: "correct horse" })).privateKey).toBe(privateKey);
  });

  it("rejects a wrong password and non-keystores with typed errors", async () => {
    const { json } = await createKeystore({
      privateKey: generatePrivateKey(),
      password: "pw-123456",
      scryptN,
    });
    await expect(openKeystore({ json, password: "nope" })).rejects.toMatchObject({ code: "BAD_PASSWORD" });
    await expect(openKeystore({ json: '{"hello":1}', password: "x" })).rejects.toBeInstanceOf(KeystoreError);
    await expect(openKeystore({ json: JSON.stringify({ version: 1 }), password: "x" })).rejects.toMatchObject(
      {
        code: "NOT_A_KEYSTORE",
      },
    );
    await expect(createKeystore({ privateKey: "0x1234", password: "x" })).rejects.toMatchObject({
      code: "BAD_KEY",
    });
  });
});
