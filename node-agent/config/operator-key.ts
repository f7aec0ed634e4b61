import { mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import type { Hex } from "viem";
import {
  type PrivateKeyAccount,
  privateKeyToAccount,
  generatePrivateKey as randomPrivateKey,
} from "viem/accounts";
import { createKeystore, openKeystore } from "@/core/keystore";
import { agentEnv, type TAgentEnv } from "./env";
import { ConfigError } from "./errors";

/** Encrypt `privateKey` with `password` into a Web3 Secret Storage file (mode 0600). */
export async function writeOperatorKeystore(options: {
  path: string;
  privateKey: Hex;
  password: string;
}): Promise<{ address: Hex }> {
  const { json, address } = await createKeystore({
    privateKey: options.privateKey,
    password: options.password,
  });
  await mkdir(dirname(options.path), { recursive: true, mode: 0o700 });
  await writeFile(options.path, json, { mode: 0o600, flag: "w" });
  return { address };
}

/** Decrypt the operator keystore into a viem account; wrong passwords are a typed `badPassword`. */
export async function unlockOperatorKey(options: {
  path: string;
  password: string;
}): Promise<PrivateKeyAccount> {
  let json: string;
  try {
    json = await readFile(options.path, "utf8");
  } catch (error) {
    throw new ConfigError({
      code: "notFound",
      message: `cannot read the operator keystore ${options.path}`,
      hint: "run `node-agent init` to create or import the operator key",
      cause: error,
    });
  }
  let privateKey: Hex;
  try {
    privateKey = (await openKeystore({ json, password: options.password })).privateKey;
  } catch (error) {
    throw new ConfigError({
      code: "badPassword",
      message: `cannot decrypt ${options.path}: wrong password or damaged keystore`,
      hint: "check NODE_AGENT_PASSWORD / --password-file",
      cause: error,
    });
  }
  return privateKeyToAccount(privateKey);
}

/** A fresh random secp256k1 private key. */
export function generatePrivateKey(): Hex {
  return randomPrivateKey();
}

/** Normalise an operator-supplied key (with or without 0x) or explain what is wrong with it. */
export function parsePrivateKey(input: string): Hex {
  const hex = input.trim().replace(/^0x/i, "");
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) {
    throw new ConfigError({
      code: "invalid",
      message: "the private key must be 32 bytes of hex (64 hex digits, optional 0x prefix)",
      hint: "pass --private-key 0x… or use --generate-key",
    });
  }
  return `0x${hex.toLowerCase()}`;
}

/**
 * The keystore password, from (in order) the flag, `NODE_AGENT_PASSWORD`, a file named by the flag
 * or `NODE_AGENT_PASSWORD_FILE` (systemd credentials). Undefined when none is given.
 */
export async function resolvePassword(options: {
  password?: string;
  passwordFile?: string;
  env?: Partial<Pick<TAgentEnv, "NODE_AGENT_PASSWORD" | "NODE_AGENT_PASSWORD_FILE">>;
}): Promise<string | undefined> {
  const env = options.env ?? agentEnv();
  if (options.password) return options.password;
  if (env.NODE_AGENT_PASSWORD) return env.NODE_AGENT_PASSWORD;
  const file = options.passwordFile ?? env.NODE_AGENT_PASSWORD_FILE;
  if (!file) return undefined;
  try {
    // A trailing newline is an editor artefact, not part of the password.
    return (await readFile(file, "utf8")).replace(/\r?\n$/, "");
  } catch (error) {
    throw new ConfigError({
      code: "noPassword",
      message: `cannot read the password file ${file}`,
      hint: "check the path and its permissions",
      cause: error,
    });
  }
}
