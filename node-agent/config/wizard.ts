import type { Hex } from "viem";
import { FORMNET_DEFAULT_PORT } from "@/lib/formnet/schemas";
import { firstFreeUdpPort } from "../host/udp-port";
import { ConfigError } from "./errors";
import { generatePrivateKey, parsePrivateKey } from "./operator-key";
import type { TPrompter } from "./prompt";
import { AGENT_CONFIG_VERSION, DEFAULT_CACHE_DIR, DEFAULT_DATA_DIR, type TAgentConfigInput } from "./schema";

/** `node-agent init` flags; every one may also be answered by the wizard. */
export interface TInitFlags {
  yes?: boolean;
  force?: boolean;
  privateKey?: string;
  generateKey?: boolean;
  password?: string;
  passwordFile?: string;
  consoleUrl?: string;
  chainRpcUrl?: string;
  chainId?: number;
  contractAddress?: string;
  region?: string;
  vcpu?: number;
  memoryMb?: number;
  diskGb?: number;
  dataDir?: string;
  cacheDir?: string;
  formnetPort?: number;
  formnetEndpoint?: string[];
  bridgeName?: string;
  /** Image GC: how many unused images to keep (not asked; default 5). */
  imagesKeepRecent?: number;
  /** Image GC: images used this recently are kept (not asked; default 30). */
  imagesMinAgeMinutes?: number;
  /** Snapshot-restored launches (not asked; default on). */
  vmSnapshots?: boolean;
}

/** What the host can offer, used as the wizard's defaults. */
export interface THostDefaults {
  vcpu: number;
  memoryMb: number;
  diskGb: number;
}

export type TKeyChoice = { kind: "generate" } | { kind: "import"; privateKey: Hex } | { kind: "keep" };

export interface TInitAnswers {
  key: TKeyChoice;
  password: string;
  config: TAgentConfigInput;
}

const DEFAULT_CONSOLE_URL = "http://127.0.0.1:3000";

/**
 * Merge flags and (unless `--yes`) interactive answers into a config and a key decision. Flags win;
 * the wizard only asks what the flags left open, offering host-derived defaults.
 */
export async function collectInitAnswers(options: {
  flags: TInitFlags;
  prompter?: TPrompter;
  host: THostDefaults;
  /** Address of an existing keystore in the chosen data dir, if one exists. */
  existingKeystore?: (dataDir: string) => Promise<string | undefined>;
  passwordFromEnv?: string;
  /** First UDP port from the given one that nothing on this host holds (injected by unit tests). */
  freeUdpPort?: (from: number) => Promise<number>;
}): Promise<TInitAnswers> {
  const { flags, host } = options;
  const prompter = flags.yes ? undefined : options.prompter;
  const ask = async (
    question: string,
    flag: string | number | undefined,
    fallback: string,
  ): Promise<string> => {
    if (flag !== undefined) return String(flag);
    return prompter ? prompter.ask(question, fallback) : fallback;
  };

  const dataDir = await ask("Data directory", flags.dataDir, DEFAULT_DATA_DIR);
  const existing = await options.existingKeystore?.(dataDir);
  const key = await chooseKey({ flags, prompter, existing });
  const password = await choosePassword({
    flags,
    prompter,
    envPassword: options.passwordFromEnv,
    isNew: key.kind !== "keep",
  });

  const consoleUrl = await ask("Console URL", flags.consoleUrl, DEFAULT_CONSOLE_URL);
  const rpcUrl = await ask("Chain RPC URL (empty: do not register on chain)", flags.chainRpcUrl, "");
  const contractAddress = rpcUrl ? await ask("Orchestrator contract address", flags.contractAddress, "") : "";
  const region = await ask("Region", flags.region, "local");
  const vcpu = await ask("vCPUs offered", flags.vcpu, String(host.vcpu));
  const memoryMb = await ask("Memory offered (MB)", flags.memoryMb, String(host.memoryMb));
  const diskGb = await ask("Disk offered (GB)", flags.diskGb, String(host.diskGb));
  // The default is a port nothing on this host holds yet (a second agent, a laptop tunnel…).
  const freePort =
    flags.formnetPort === undefined
      ? await (options.freeUdpPort ?? firstFreeUdpPort)(FORMNET_DEFAULT_PORT)
      : FORMNET_DEFAULT_PORT;
  const listenPort = await ask(
    freePort === FORMNET_DEFAULT_PORT
      ? "formnet WireGuard UDP port"
      : `formnet WireGuard UDP port (${FORMNET_DEFAULT_PORT} is in use on this host)`,
    flags.formnetPort,
    String(freePort),
  );
  const endpoints =
    flags.formnetEndpoint ??
    splitList(
      await ask("Public formnet endpoint(s) host:port, comma-separated (empty: none)", undefined, ""),
    );
  const bridgeName = await ask(
    "VM bridge name (empty: derived from the data directory)",
    flags.bridgeName,
    "",
  );
  const cacheDir = await ask("Builder cache directory", flags.cacheDir, DEFAULT_CACHE_DIR);

  const config: TAgentConfigInput = {
    version: AGENT_CONFIG_VERSION,
    // The address is filled in once the keystore is written or unlocked.
    operator: { address: `0x${"0".repeat(40)}`, keystorePath: "keystore.json" },
    console: { url: consoleUrl },
    ...(rpcUrl
      ? {
          chain: {
            rpcUrl,
            contractAddress,
            ...(flags.chainId === undefined ? {} : { chainId: flags.chainId }),
          },
        }
      : {}),
    node: { region, capacity: { vcpu: toInt(vcpu), memoryMb: toInt(memoryMb), diskGb: toInt(diskGb) } },
    dataDir,
    cacheDir,
    formnet: { listenPort: toInt(listenPort), endpoints },
    network: bridgeName ? { bridgeName } : {},
    ...(flags.imagesKeepRecent === undefined && flags.imagesMinAgeMinutes === undefined
      ? {}
      : {
          images: {
            ...(flags.imagesKeepRecent === undefined ? {} : { keepRecent: flags.imagesKeepRecent }),
            ...(flags.imagesMinAgeMinutes === undefined ? {} : { minAgeMinutes: flags.imagesMinAgeMinutes }),
          },
        }),
    ...(flags.vmSnapshots === undefined ? {} : { vms: { snapshots: flags.vmSnapshots } }),
  };
  return { key, password, config };
}

async function chooseKey(options: {
  flags: TInitFlags;
  prompter: TPrompter | undefined;
  existing: string | undefined;
}): Promise<TKeyChoice> {
  const { flags, prompter, existing } = options;
  if (flags.privateKey !== undefined && flags.generateKey) {
    throw new ConfigError({
      code: "invalid",
      message: "--private-key and --generate-key exclude each other",
      hint: "pass one of them",
    });
  }
  const replacing = flags.privateKey !== undefined || flags.generateKey === true;
  if (existing && replacing && !flags.force) {
    throw new ConfigError({
      code: "invalid",
      message: `a keystore for operator ${existing} already exists in this data directory`,
      hint: "re-run without a key flag to keep it, or add --force to replace it (the old key is lost)",
    });
  }
  if (flags.privateKey !== undefined)
    return { kind: "import", privateKey: parsePrivateKey(flags.privateKey) };
  if (flags.generateKey) return { kind: "generate" };
  if (existing) {
    if (!prompter || (await prompter.confirm(`Keep the existing operator key ${existing}?`, true))) {
      return { kind: "keep" };
    }
  }
  if (!prompter) return { kind: "generate" };
  const answer = (
    await prompter.ask("Operator key: [g]enerate a new one or [i]mport a private key", "g")
  ).toLowerCase();
  if (answer.startsWith("i")) {
    return { kind: "import", privateKey: parsePrivateKey(await prompter.secret("Private key (hex)")) };
  }
  return { kind: "generate" };
}

async function choosePassword(options: {
  flags: TInitFlags;
  prompter: TPrompter | undefined;
  envPassword: string | undefined;
  isNew: boolean;
}): Promise<string> {
  const given = options.flags.password ?? options.envPassword;
  if (given !== undefined) return checkPassword(given);
  const { prompter } = options;
  if (!prompter) {
    throw new ConfigError({
      code: "noPassword",
      message: "no keystore password given",
      hint: "pass --password, --password-file or set NODE_AGENT_PASSWORD",
    });
  }
  const password = checkPassword(await prompter.secret("Keystore password"));
  if (options.isNew && (await prompter.secret("Repeat the password")) !== password) {
    throw new ConfigError({ code: "invalid", message: "the passwords differ", hint: "run init again" });
  }
  return password;
}

function checkPassword(password: string): string {
  if (password.length < 8) {
    throw new ConfigError({
      code: "invalid",
      message: "the keystore password must have at least 8 characters",
      hint: "choose a longer password",
    });
  }
  return password;
}

function toInt(value: string): number {
  // Non-numbers become NaN, which the config schema then reports with the field's name.
  return /^\s*\d+\s*$/.test(value) ? Number(value) : Number.NaN;
}

function splitList(value: string): string[] {
  return value
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
}

/** Apply the keystore decision: generate or import writes a keystore, keep returns the old address. */
export function resolveKey(choice: TKeyChoice): Hex | undefined {
  if (choice.kind === "generate") return generatePrivateKey();
  if (choice.kind === "import") return choice.privateKey;
  return undefined;
}
