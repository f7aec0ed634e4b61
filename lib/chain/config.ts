import { type Address, type Chain, defineChain, getAddress, isAddress } from "viem";
import { z } from "zod";

/** Chain id of the embedded Hardhat devnet. */
export const DEVNET_CHAIN_ID = 31337;

const ZAddress = z
  .string()
  .refine((s) => isAddress(s, { strict: false }), { message: "not an EVM address (0x + 40 hex digits)" })
  .transform((s) => getAddress(s));

/** Where the orchestrator lives: any EVM chain by RPC URL, chain id and contract address. */
export const ZChainConfig = z.object({
  rpcUrl: z.url(),
  chainId: z.coerce.number().int().positive(),
  orchestratorAddress: ZAddress,
});
export type TChainConfig = z.infer<typeof ZChainConfig>;

/** Operator resources as the contract stores them. */
export const ZCapacity = z.object({
  vcpu: z.number().int().positive().max(0xffffffff),
  memoryMb: z.number().int().positive().max(0xffffffff),
  diskGb: z.number().int().positive().max(0xffffffff),
});
export type TCapacity = z.infer<typeof ZCapacity>;

/**
 * Reads `CHAIN_RPC_URL`, `CHAIN_ID` and `ORCHESTRATOR_ADDRESS` from an environment-like record;
 * returns undefined when none is set so callers can fall back to the embedded devnet's chain.json.
 */
export function chainConfigFromEnv(env: Record<string, string | undefined>): TChainConfig | undefined {
  const { CHAIN_RPC_URL, CHAIN_ID, ORCHESTRATOR_ADDRESS } = env;
  if (CHAIN_RPC_URL === undefined && CHAIN_ID === undefined && ORCHESTRATOR_ADDRESS === undefined)
    return undefined;
  const parsed = ZChainConfig.safeParse({
    rpcUrl: CHAIN_RPC_URL,
    chainId: CHAIN_ID,
    orchestratorAddress: ORCHESTRATOR_ADDRESS,
  });
  if (!parsed.success) {
    throw new Error(
      `Invalid chain configuration (set CHAIN_RPC_URL, CHAIN_ID and ORCHESTRATOR_ADDRESS together): ${z.prettifyError(parsed.error)}`,
      { cause: parsed.error },
    );
  }
  return parsed.data;
}

/**
 * Parses the devnet's `${dataDir}/chain.json` (written by contracts/devnet.ts on every start); callers
 * read the file themselves so this stays isomorphic.
 */
export function parseChainFile(text: string): TChainConfig {
  return ZChainConfig.parse(JSON.parse(text));
}

/** A viem `Chain` for an arbitrary chain id and RPC URL (viem needs one for signing and fee logic). */
export function chainFromConfig(config: { chainId: number; rpcUrl: string }): Chain {
  return defineChain({
    id: config.chainId,
    name: config.chainId === DEVNET_CHAIN_ID ? "Formation devnet" : `chain ${config.chainId}`,
    nativeCurrency: { decimals: 18, name: "Ether", symbol: "ETH" },
    rpcUrls: { default: { http: [config.rpcUrl] } },
  });
}

/** The 32-byte node key that stands for an agent's Ethereum address (left-padded with zeros). */
export function nodeKeyFromAddress(address: Address): `0x${string}` {
  return `0x${"0".repeat(24)}${getAddress(address).slice(2).toLowerCase()}`;
}
