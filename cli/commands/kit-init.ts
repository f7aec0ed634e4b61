import { access } from "node:fs/promises";
import { type Command, Option } from "commander";
import { type Hex, toHex } from "viem";
import { generatePrivateKey, mnemonicToAccount } from "viem/accounts";
import { configDir, configPaths, DEFAULT_HOST, type TCliConfig, writePrivateFile } from "../config";
import { cliEnv } from "../env";
import { CliError } from "../errors";
import { type Output, runAction } from "../output";
import { ask, askHidden, isInteractive } from "../prompt";
import { fetchAuthConfig } from "../session";

/** `form kit init`: create or import the signing key, encrypt it at rest, remember the console. */

type TInitOptions = {
  json?: boolean;
  host?: string;
  password?: string;
  privateKey?: string;
  mnemonic?: string;
  yes?: boolean;
  force?: boolean;
  scryptN?: string;
};

const MIN_PASSWORD = 8;

function keyFromMnemonic(mnemonic: string): Hex {
  try {
    const key = mnemonicToAccount(mnemonic.trim()).getHdKey().privateKey;
    if (!key) throw new Error("no private key derived");
    return toHex(key);
  } catch (cause) {
    throw new CliError(
      "user",
      "that mnemonic is not a valid BIP-39 phrase — check the words and their order",
      {
        cause,
      },
    );
  }
}

async function chooseKey(opts: TInitOptions, wizard: boolean): Promise<{ key: string; source: string }> {
  if (opts.privateKey !== undefined && opts.mnemonic !== undefined)
    throw new CliError("user", "pass either --private-key or --mnemonic, not both");
  if (opts.privateKey !== undefined) return { key: opts.privateKey, source: "imported private key" };
  if (opts.mnemonic !== undefined)
    return { key: keyFromMnemonic(opts.mnemonic), source: "imported mnemonic" };
  if (!wizard) return { key: generatePrivateKey(), source: "generated" };
  const choice = await ask("Key: [g]enerate a new one, import a [p]rivate key, or a [m]nemonic? [g] ");
  if (choice.startsWith("p"))
    return { key: await askHidden("Private key (hex): "), source: "imported private key" };
  if (choice.startsWith("m"))
    return { key: keyFromMnemonic(await askHidden("Mnemonic: ")), source: "imported mnemonic" };
  return { key: generatePrivateKey(), source: "generated" };
}

async function choosePassword(opts: TInitOptions, wizard: boolean): Promise<string> {
  const given = opts.password ?? cliEnv().FORM_PASSWORD;
  let password = given ?? "";
  if (given === undefined) {
    if (!wizard)
      throw new CliError("user", "a keystore password is required — pass --password or set FORM_PASSWORD");
    password = await askHidden("New keystore password: ");
    if ((await askHidden("Repeat password: ")) !== password)
      throw new CliError("user", "the passwords differ — run `form kit init` again");
  }
  if (password.length < MIN_PASSWORD)
    throw new CliError("user", `the keystore password must have at least ${MIN_PASSWORD} characters`);
  return password;
}

async function init(out: Output, opts: TInitOptions): Promise<void> {
  const dir = configDir();
  const paths = configPaths(dir);
  const wizard = opts.yes !== true && isInteractive();
  const exists = await access(paths.keystore).then(
    () => true,
    () => false,
  );
  if (exists && opts.force !== true)
    throw new CliError(
      "user",
      `${paths.keystore} already exists — pass --force to replace it (the old key is lost)`,
    );
  let host = opts.host ?? cliEnv().FORM_HOST ?? DEFAULT_HOST;
  if (wizard && opts.host === undefined) host = (await ask(`Console URL [${host}]: `)) || host;
  if (!/^https?:\/\//.test(host)) throw new CliError("user", `--host must be an http(s) URL, got "${host}"`);
  host = host.replace(/\/+$/, "");
  const { key, source } = await chooseKey(opts, wizard);
  const password = await choosePassword(opts, wizard);
  const { createKeystore, DEFAULT_SCRYPT_N, KeystoreError } = await import("../../core/keystore");
  const scryptN = opts.scryptN === undefined ? DEFAULT_SCRYPT_N : Number(opts.scryptN);
  out.progress("encrypting the key (scrypt)…");
  let created: { json: string; address: Hex };
  try {
    created = await createKeystore({ privateKey: key, password, scryptN });
  } catch (error) {
    if (error instanceof KeystoreError && error.code === "BAD_KEY")
      throw new CliError("user", "--private-key must be 32 bytes of hex (64 hex digits, 0x optional)", {
        cause: error,
      });
    throw error;
  }
  const config: TCliConfig = {
    version: 1,
    host,
    address: created.address,
    createdAt: new Date().toISOString(),
  };
  await writePrivateFile(paths.keystore, created.json, dir);
  await writePrivateFile(paths.config, `${JSON.stringify(config, null, 2)}\n`, dir);
  // Reaching the console is not required to set up a key, but say early when the host is wrong.
  out.progress(`checking ${host}…`);
  const reachable = await fetchAuthConfig(host).then(
    () => true,
    () => false,
  );
  out.result(
    { address: created.address, host, configDir: dir, keySource: source, consoleReachable: reachable },
    [
      `✓ key ${created.address} (${source}) stored encrypted in ${paths.keystore}`,
      `  console  ${host}${reachable ? "" : "  (not reachable right now — check the URL or start the console)"}`,
      `  config   ${paths.config}`,
      "next: `form manage join` and `form manage formnet-up`, then `form pack build` in your project",
    ].join("\n"),
  );
}

/** Adds `init` to the `kit` command group. */
export function registerKitInit(kit: Command): void {
  kit
    .command("init")
    .description("create or import your signing key and store it encrypted; remember the console URL")
    .option("--private-key <hex>", "import this private key (64 hex digits)")
    .option("--mnemonic <words>", "import the first account of this BIP-39 mnemonic")
    .option(
      "--password <password>",
      "keystore password, at least 8 characters (else FORM_PASSWORD or a prompt)",
    )
    .option("--host <url>", `console URL (default ${DEFAULT_HOST} or FORM_HOST)`)
    .option("-y, --yes", "do not ask anything: generate a key unless one is given")
    .option("--force", "replace an existing keystore")
    .option("--json", "print machine-readable JSON on stdout")
    .addOption(new Option("--scrypt-n <n>", "scrypt work factor (tests only)").hideHelp())
    .addHelpText(
      "after",
      `
The config lives in $FORMKIT or ~/.config/form (config.json, keystore.json).

Examples:
  $ form kit init                                          # wizard
  $ FORM_PASSWORD=… form kit init --yes --host https://console.example.org
  $ form kit init --yes --private-key 0x59c6…690d --password 'correct horse'`,
    )
    .action(runAction(async (out, opts: TInitOptions) => init(out, opts)));
}
