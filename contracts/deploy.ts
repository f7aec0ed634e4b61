import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import {
  type Address,
  createPublicClient,
  createWalletClient,
  getAddress,
  type Hex,
  http,
  type PublicClient,
  parseEther,
  type WalletClient,
} from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { createLogger } from "../core/log";
import { orchestratorAbi } from "../lib/chain/abi";
import { chainFromConfig } from "../lib/chain/config";
import { loadArtifact } from "./build";

export type TDeployParams = {
  /** Wei an operator must bond to be active. */
  minimumStake: bigint;
  /** Seconds between deregister and withdraw. */
  unbondingDelay: bigint;
  /** Slashing authority; defaults to the deployer. */
  governance?: Address;
  /** Receiver of slashed stake; defaults to the deployer. */
  treasury?: Address;
};

export const defaultDeployParams = { minimumStake: parseEther("1"), unbondingDelay: 3600n } as const;

/** Deploys the Orchestrator with the wallet's account and waits for the receipt. */
export async function deployWithClients(
  options: { publicClient: PublicClient; walletClient: WalletClient } & TDeployParams,
): Promise<{ address: Address; txHash: Hex; blockNumber: bigint }> {
  const account = options.walletClient.account;
  if (account === undefined) throw new Error("deployWithClients: the wallet client has no account");
  const artifact = await loadArtifact("Orchestrator");
  const txHash = await options.walletClient.deployContract({
    abi: orchestratorAbi,
    bytecode: artifact.bytecode,
    account,
    chain: options.walletClient.chain ?? null,
    args: [
      options.minimumStake,
      options.unbondingDelay,
      options.governance ?? account.address,
      options.treasury ?? account.address,
    ],
  });
  const receipt = await options.publicClient.waitForTransactionReceipt({ hash: txHash, timeout: 120_000 });
  if (receipt.status !== "success" || receipt.contractAddress == null) {
    throw new Error(`Orchestrator deployment ${txHash} reverted (block ${receipt.blockNumber})`);
  }
  return { address: getAddress(receipt.contractAddress), txHash, blockNumber: receipt.blockNumber };
}

/** Deploys the Orchestrator to any EVM chain reachable at `rpcUrl`, paying with `privateKey`. */
export async function deployOrchestrator(
  options: { rpcUrl: string; chainId: number; privateKey: Hex } & Partial<TDeployParams>,
): Promise<{ address: Address; txHash: Hex; blockNumber: bigint; deployer: Address }> {
  const chain = chainFromConfig(options);
  const account = privateKeyToAccount(options.privateKey);
  const publicClient = createPublicClient({ chain, transport: http(options.rpcUrl) });
  const walletClient = createWalletClient({ chain, account, transport: http(options.rpcUrl) });
  const remoteChainId = await publicClient.getChainId();
  if (remoteChainId !== options.chainId) {
    throw new Error(
      `RPC ${options.rpcUrl} serves chain ${remoteChainId}, not the configured ${options.chainId}`,
    );
  }
  const result = await deployWithClients({
    publicClient,
    walletClient,
    minimumStake: options.minimumStake ?? defaultDeployParams.minimumStake,
    unbondingDelay: options.unbondingDelay ?? defaultDeployParams.unbondingDelay,
    governance: options.governance,
    treasury: options.treasury,
  });
  return { ...result, deployer: account.address };
}

function isPrivateKey(value: string | undefined): value is Hex {
  return value !== undefined && /^0x[0-9a-fA-F]{64}$/.test(value);
}

async function main(): Promise<void> {
  const log = createLogger("contracts-deploy");
  const { values } = parseArgs({
    options: {
      "rpc-url": { type: "string", default: process.env.CHAIN_RPC_URL },
      "chain-id": { type: "string", default: process.env.CHAIN_ID },
      "minimum-stake-wei": { type: "string" },
      "unbonding-delay-seconds": { type: "string" },
      governance: { type: "string" },
      treasury: { type: "string" },
    },
  });
  // The key comes from the environment only, so it never shows up in `ps` output or shell history.
  const privateKey = process.env.DEPLOYER_PRIVATE_KEY;
  const rpcUrl = values["rpc-url"];
  const chainId = Number(values["chain-id"]);
  if (rpcUrl === undefined || !Number.isInteger(chainId) || !isPrivateKey(privateKey)) {
    throw new Error(
      "usage: DEPLOYER_PRIVATE_KEY=0x… npx tsx contracts/deploy.ts --rpc-url URL --chain-id ID [--minimum-stake-wei N] [--unbonding-delay-seconds N] [--governance ADDR] [--treasury ADDR] (or CHAIN_RPC_URL / CHAIN_ID)",
    );
  }
  const optionalAddress = (v: string | undefined) => (v === undefined ? undefined : getAddress(v));
  const result = await deployOrchestrator({
    rpcUrl,
    chainId,
    privateKey,
    minimumStake: values["minimum-stake-wei"] === undefined ? undefined : BigInt(values["minimum-stake-wei"]),
    unbondingDelay:
      values["unbonding-delay-seconds"] === undefined ? undefined : BigInt(values["unbonding-delay-seconds"]),
    governance: optionalAddress(values.governance),
    treasury: optionalAddress(values.treasury),
  });
  log.info(
    { ...result, blockNumber: result.blockNumber.toString(), rpcUrl, chainId },
    "orchestrator deployed",
  );
  process.stdout.write(
    `${JSON.stringify({ event: "deployed", rpcUrl, chainId, orchestratorAddress: result.address, txHash: result.txHash })}\n`,
  );
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    createLogger("contracts-deploy").error({ err }, "deployment failed");
    process.exitCode = 1;
  });
}
