import { type ChildProcess, spawn } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import {
  type Address,
  bytesToHex,
  createPublicClient,
  createTestClient,
  createWalletClient,
  getContractAddress,
  type Hex,
  http,
} from "viem";
import { mnemonicToAccount, privateKeyToAccount } from "viem/accounts";
import { createLogger, type Logger } from "../core/log";
import { chainFromConfig, DEVNET_CHAIN_ID } from "../lib/chain/config";
import { FormationError } from "../lib/errors";
import { defaultDeployParams, deployWithClients, type TDeployParams } from "./deploy";
import { startRpcFilter, type TRpcFilter } from "./rpc-filter";

/**
 * The embedded local chain: a Hardhat 2 node in a child process with the Orchestrator deployed by
 * account #0 as its first transaction, so the contract address is the same on every start (Hardhat
 * keeps state in memory: each start is a fresh chain and agents re-register themselves).
 */

const contractsDir = fileURLToPath(new URL(".", import.meta.url));
const hardhatCli = createRequire(import.meta.url).resolve("hardhat/internal/cli/bootstrap.js");
/** Hardhat's publicly known test mnemonic (also in hardhat.config.cjs). Never use these keys elsewhere. */
const DEVNET_MNEMONIC = "test test test test test test test test test test test junk";
const DEVNET_ACCOUNT_COUNT = 32;
/** Multinode host n (`FORMATION_NODES=N npm start`) operates with devnet account #(offset + n). */
export const DEVNET_NODE_ACCOUNT_OFFSET = 10;
/** Most multinode hosts the devnet funds (accounts #11 … #31). */
export const DEVNET_MAX_NODES = DEVNET_ACCOUNT_COUNT - DEVNET_NODE_ACCOUNT_OFFSET - 1;

export type TDevnetOptions = {
  /** RPC port; 0 picks a free one (tests). */
  port: number;
  /** Where chain.json and Hardhat's work files go. */
  dataDir: string;
  hostname?: string;
  /** Further addresses the RPC filter serves on the same port. */
  alsoListen?: readonly string[];
  readyTimeoutMs?: number;
  deploy?: Partial<TDeployParams>;
  logger?: Logger;
};

export type TDevnet = {
  /** The public RPC: reads and eth_sendRawTransaction; no unlocked-account or test-control calls. */
  rpcUrl: string;
  /** Hardhat's own RPC on a random loopback port, with test controls (evm_*, hardhat_*): tests only. */
  adminRpcUrl: string;
  chainId: number;
  /** Funded private keys; index 0 deployed the contract and is its governance and treasury. */
  accounts: Hex[];
  orchestratorAddress: Address;
  /** Milliseconds from spawn to RPC ready, and from spawn to the contract being deployed. */
  timings: { rpcReadyMs: number; deployedMs: number };
  stop(): Promise<void>;
};

/** Raised when the Hardhat node fails to start; carries the command line, exit code and output tail. */
export class DevnetStartError extends FormationError<"DEVNET_START_FAILED"> {
  override readonly name = "DevnetStartError";
  constructor(
    message: string,
    readonly run: { command: string; exitCode: number | null; output: string },
    options: { cause?: unknown } = {},
  ) {
    super("DEVNET_START_FAILED", message, {
      message: `${message}\ncommand: ${run.command}\nexit code: ${run.exitCode}\n${run.output}`,
      details: { command: run.command, exitCode: run.exitCode },
      ...options,
    });
  }
}

/** The devnet's funded private keys, derived from Hardhat's test mnemonic. */
export function devnetPrivateKeys(count = DEVNET_ACCOUNT_COUNT): Hex[] {
  return Array.from({ length: count }, (_, addressIndex) => devnetPrivateKey(addressIndex));
}

/** The private key of devnet account #`addressIndex` (funded when below the devnet's count). */
export function devnetPrivateKey(addressIndex: number): Hex {
  const key = mnemonicToAccount(DEVNET_MNEMONIC, { addressIndex }).getHdKey().privateKey;
  if (key === null) throw new Error(`no private key for devnet account ${addressIndex}`);
  return bytesToHex(key);
}

/** Starts a Hardhat node, waits for its RPC, deploys the Orchestrator and writes `${dataDir}/chain.json`. */
export async function startDevnet(options: TDevnetOptions): Promise<TDevnet> {
  const log = options.logger ?? createLogger("devnet");
  const hostname = options.hostname ?? "127.0.0.1";
  const deadline = Date.now() + (options.readyTimeoutMs ?? 60_000);
  const workDir = resolve(options.dataDir, "hardhat");
  await mkdir(workDir, { recursive: true });

  const args = ["-r", join(contractsDir, "exit-with-parent.cjs"), hardhatCli, "node"];
  // Hardhat itself listens on a random loopback port; the public port is the RPC filter's
  // (contracts/rpc-filter.ts), which refuses calls that would use the node's unlocked accounts.
  args.push("--config", join(contractsDir, "hardhat.config.cjs"), "--hostname", "127.0.0.1");
  args.push("--port", "0");
  const command = `${process.execPath} ${args.join(" ")}`;
  const started = performance.now();
  const child = spawn(process.execPath, args, {
    cwd: contractsDir,
    stdio: ["pipe", "pipe", "pipe"],
    env: {
      ...process.env,
      FORMATION_HARDHAT_DIR: workDir,
      HARDHAT_DISABLE_TELEMETRY_PROMPT: "true",
      HARDHAT_HIDE_SOLIDITY_SURVEY_MESSAGE: "true",
      NO_COLOR: "1",
      FORCE_COLOR: "0",
    },
  });
  let filter: TRpcFilter | undefined;
  const stop = async () => {
    await filter?.close();
    await stopChild(child);
  };
  try {
    const adminRpcUrl = await waitForListening({ child, command, deadline, log });
    filter = await startRpcFilter({
      upstream: adminRpcUrl,
      hostname,
      alsoListen: options.alsoListen,
      port: options.port,
      logger: log,
    });
    const rpcUrl = filter.url;
    const chain = chainFromConfig({ chainId: DEVNET_CHAIN_ID, rpcUrl });
    const publicClient = createPublicClient({ chain, transport: http(rpcUrl), pollingInterval: 50 });
    await pollUntil(deadline, async () => (await publicClient.getChainId()) === DEVNET_CHAIN_ID);
    // Hardhat logs every RPC call to stdout; the console and agents poll, so that would be a firehose.
    await createTestClient({ chain, mode: "hardhat", transport: http(adminRpcUrl) }).setLoggingEnabled(false);
    const rpcReadyMs = performance.now() - started;

    const accounts = devnetPrivateKeys();
    const deployer = privateKeyToAccount(accountAt(accounts, 0));
    const expected = getContractAddress({ from: deployer.address, nonce: 0n });
    const code = await publicClient.getCode({ address: expected });
    if (code === undefined || code === "0x") {
      const walletClient = createWalletClient({ chain, account: deployer, transport: http(rpcUrl) });
      const { address } = await deployWithClients({
        publicClient,
        walletClient,
        ...defaultDeployParams,
        ...options.deploy,
      });
      if (address !== expected) throw new Error(`orchestrator deployed at ${address}, expected ${expected}`);
    }
    const deployedMs = performance.now() - started;
    const info = { rpcUrl, chainId: DEVNET_CHAIN_ID, orchestratorAddress: expected };
    await mkdir(options.dataDir, { recursive: true });
    await writeFile(join(options.dataDir, "chain.json"), `${JSON.stringify(info, null, 2)}\n`);
    log.info(
      { ...info, rpcReadyMs: Math.round(rpcReadyMs), deployedMs: Math.round(deployedMs) },
      "devnet ready",
    );
    return { ...info, adminRpcUrl, accounts, timings: { rpcReadyMs, deployedMs }, stop };
  } catch (err) {
    await stop();
    if (err instanceof DevnetStartError) throw err;
    throw new DevnetStartError(
      "devnet did not become ready",
      { command, exitCode: child.exitCode, output: "" },
      {
        cause: err,
      },
    );
  }
}

function accountAt(keys: Hex[], index: number): Hex {
  const key = keys[index];
  if (key === undefined) throw new Error(`devnet has no account ${index}`);
  return key;
}

/** Resolves with the RPC URL Hardhat prints once listening (it knows the real port when given 0). */
function waitForListening(options: {
  child: ChildProcess;
  command: string;
  deadline: number;
  log: Logger;
}): Promise<string> {
  const { child, command, log } = options;
  let output = "";
  let listening = false;
  return new Promise((resolvePromise, reject) => {
    const fail = (message: string) => {
      clearTimeout(timer);
      reject(
        new DevnetStartError(message, { command, exitCode: child.exitCode, output: output.slice(-4000) }),
      );
    };
    const timer = setTimeout(
      () => fail("hardhat node did not listen before the deadline"),
      options.deadline - Date.now(),
    );
    const onData = (chunk: Buffer) => {
      // Keep draining stdout after start-up so the child never blocks on a full pipe.
      if (listening) return;
      output += chunk.toString("utf8");
      const match = /JSON-RPC server at (http:\/\/[^\s/]+)\//.exec(output);
      if (match?.[1] !== undefined) {
        listening = true;
        clearTimeout(timer);
        child.off("exit", onExit);
        child.once("exit", (code, signal) => log.info({ code, signal }, "hardhat node exited"));
        resolvePromise(match[1]);
      }
    };
    const onExit = () => fail("hardhat node exited before listening");
    child.stdout?.on("data", onData);
    child.stderr?.on("data", (chunk: Buffer) => {
      if (!listening) output += chunk.toString("utf8");
      log.debug({ stderr: chunk.toString("utf8").trimEnd() }, "hardhat");
    });
    child.once("exit", onExit);
    child.once("error", (err) => fail(`could not spawn hardhat node: ${err.message}`));
  });
}

async function pollUntil(deadline: number, check: () => Promise<boolean>): Promise<void> {
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      if (await check()) return;
    } catch (err) {
      lastError = err;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error("RPC did not answer before the deadline", { cause: lastError });
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
  await exited;
  clearTimeout(timer);
}

async function main(): Promise<void> {
  const log = createLogger("devnet");
  const { values } = parseArgs({
    options: {
      port: { type: "string", default: process.env.CHAIN_PORT ?? "8545" },
      "data-dir": { type: "string", default: process.env.FORMATION_DATA_DIR ?? ".data" },
      hostname: { type: "string", default: "127.0.0.1" },
      // Extra addresses (comma-separated) served on the same port: the multinode underlay.
      "also-listen": { type: "string", default: "" },
    },
  });
  const devnet = await startDevnet({
    port: Number(values.port),
    dataDir: values["data-dir"],
    hostname: values.hostname,
    alsoListen: values["also-listen"].split(",").filter(Boolean),
    logger: log,
  });
  // The supervisor (scripts/start.mjs) waits for exactly this line.
  const { rpcUrl, chainId, orchestratorAddress } = devnet;
  process.stdout.write(`${JSON.stringify({ event: "ready", rpcUrl, chainId, orchestratorAddress })}\n`);
  const shutdown = (signal: string) => {
    log.info({ signal }, "stopping devnet");
    devnet.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, "devnet stop failed");
        process.exit(1);
      },
    );
  };
  process.once("SIGINT", () => shutdown("SIGINT"));
  process.once("SIGTERM", () => shutdown("SIGTERM"));
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    createLogger("devnet").error({ err }, "devnet failed to start");
    process.exitCode = 1;
  });
}
