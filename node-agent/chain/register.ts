import {
  type Account,
  type Address,
  createPublicClient,
  createWalletClient,
  type Hash,
  type Hex,
  http,
  isHex,
} from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { createLogger, type Logger } from "@/core/log";
import { chainFromConfig, nodeKeyFromAddress, type TCapacity } from "@/lib/chain/config";
import { orchestratorErrorName } from "@/lib/chain/errors";
import { readMinimumStake, readOperator, type TOperator } from "@/lib/chain/read";
import { addStake, registerOperator, updateOperator, waitForSuccess } from "@/lib/chain/write";
import { FormationError } from "@/lib/errors";

export type TEnsureRegisteredOptions = {
  rpcUrl: string;
  chainId: number;
  /** Orchestrator contract address. */
  contract: Address;
  /** The operator's account (a viem account or its private key); pays stake and gas. */
  account: Account | Hex;
  region: string;
  capacity: TCapacity;
  /** Console-reachable information about the node (JSON is customary). */
  metadata: string;
  /** Wei to bond on registration, and the level to top up to when slashing left it below the minimum. */
  stake: bigint;
  /** Defaults to the operator address left-padded to 32 bytes. */
  nodeKey?: Hex;
  receiptTimeoutMs?: number;
  logger?: Logger;
};

export type TRegistrationErrorCode = "wrongChain" | "stakeBelowMinimum" | "unbonding" | "reverted";

/** Why the agent could not make sure it is registered; `code` is stable, the message says what to do. */
export class ChainRegistrationError extends FormationError<TRegistrationErrorCode> {
  override readonly name = "ChainRegistrationError";
  constructor(code: TRegistrationErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(code, message, options);
  }
}

/**
 * Makes sure the agent's operator is registered and active on the orchestrator: registers when it is
 * not (the embedded devnet starts empty on every restart), updates the profile when it changed, and
 * tops the stake up when slashing left it below the minimum. Idempotent: returns "already" when
 * nothing had to change, otherwise the hash of the last transaction sent (already mined).
 */
export async function ensureRegistered(options: TEnsureRegisteredOptions): Promise<Hash | "already"> {
  const account =
    typeof options.account === "string" ? privateKeyToAccount(options.account) : options.account;
  const log = options.logger ?? createLogger("agent-chain", { operator: account.address });
  const chain = chainFromConfig(options);
  const client = createPublicClient({ chain, transport: http(options.rpcUrl), pollingInterval: 250 });
  const wallet = createWalletClient({ chain, account, transport: http(options.rpcUrl) });
  const remoteChainId = await client.getChainId();
  if (remoteChainId !== options.chainId) {
    throw new ChainRegistrationError(
      "wrongChain",
      `RPC ${options.rpcUrl} serves chain ${remoteChainId} but the agent is configured for ${options.chainId}: fix CHAIN_RPC_URL or CHAIN_ID`,
    );
  }
  const ref = { client, contract: options.contract };
  const write = { wallet, contract: options.contract };
  const profile = {
    nodeKey: options.nodeKey ?? nodeKeyFromAddress(account.address),
    region: options.region,
    capacity: options.capacity,
    metadata: options.metadata,
  };
  const [current, minimumStake] = await Promise.all([
    readOperator({ ...ref, operator: account.address }),
    readMinimumStake(ref),
  ]);
  const mined = async (action: string, send: () => Promise<Hash>): Promise<Hash> => {
    try {
      const txHash = await send();
      await waitForSuccess(client, txHash, { timeoutMs: options.receiptTimeoutMs });
      log.info({ action, txHash }, "orchestrator transaction mined");
      return txHash;
    } catch (err) {
      const reason = orchestratorErrorName(err);
      throw new ChainRegistrationError(
        "reverted",
        `${action} on orchestrator ${options.contract} failed${reason === undefined ? "" : ` (${reason})`}: check the operator's balance and the chain`,
        { cause: err },
      );
    }
  };

  if (!current.registered) {
    if (options.stake < minimumStake || options.stake === 0n) {
      throw new ChainRegistrationError(
        "stakeBelowMinimum",
        `configured stake ${options.stake} wei is below the orchestrator's minimum ${minimumStake} wei: raise the agent's stake setting`,
      );
    }
    return mined("register", () => registerOperator({ ...write, ...profile, stake: options.stake }));
  }
  if (current.unbondingEndsAt !== 0) {
    throw new ChainRegistrationError(
      "unbonding",
      `operator ${account.address} deregistered and is unbonding until ${new Date(current.unbondingEndsAt * 1000).toISOString()}: withdraw the stake after that, then restart the agent to register again`,
    );
  }
  let last: Hash | "already" = "already";
  if (!sameProfile(current, profile)) {
    last = await mined("update", () => updateOperator({ ...write, ...profile }));
  }
  if (current.stake < minimumStake || current.stake === 0n) {
    // bigint: Math.max does not apply.
    let target = minimumStake;
    if (options.stake > target) target = options.stake;
    log.warn(
      { stake: current.stake.toString(), target: target.toString() },
      "stake below minimum; topping up",
    );
    last = await mined("addStake", () => addStake({ ...write, amount: target - current.stake }));
  }
  return last;
}

function sameProfile(
  current: TOperator,
  wanted: { nodeKey: Hex; region: string; capacity: TCapacity; metadata: string },
) {
  return (
    isHex(current.nodeKey) &&
    current.nodeKey.toLowerCase() === wanted.nodeKey.toLowerCase() &&
    current.region === wanted.region &&
    current.metadata === wanted.metadata &&
    current.capacity.vcpu === wanted.capacity.vcpu &&
    current.capacity.memoryMb === wanted.capacity.memoryMb &&
    current.capacity.diskGb === wanted.capacity.diskGb
  );
}
