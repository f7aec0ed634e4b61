import type { Account, Address, Chain, Client, Hash, Hex, Transport } from "viem";
import { waitForTransactionReceipt, writeContract } from "viem/actions";
import { FormationError } from "../errors";
import { orchestratorAbi } from "./abi";
import type { TCapacity } from "./config";

/**
 * Write helpers for the orchestrator. They take any viem wallet client that carries an account: a
 * local key in Node (the console's funded key, an agent key) or the user's browser wallet through
 * wagmi. Each returns the transaction hash once the node accepted it; reverts surface before sending
 * (gas estimation) and decode with `orchestratorErrorName`.
 */
export type TWallet = Client<Transport, Chain | undefined, Account | undefined>;
export type TWriteRef = { wallet: TWallet; contract: Address };

export type TOperatorProfile = { nodeKey: Hex; region: string; capacity: TCapacity; metadata: string };

/** Raised when a write helper gets a wallet client without an account to sign with. */
export class WalletAccountMissingError extends FormationError<"WALLET_ACCOUNT_MISSING"> {
  override readonly name = "WalletAccountMissingError";
  constructor() {
    super(
      "WALLET_ACCOUNT_MISSING",
      "The wallet client has no account: connect a wallet or create the client with an account.",
    );
  }
}

/** Raised when a mined transaction reverted. */
export class TransactionRevertedError extends FormationError<"TRANSACTION_REVERTED"> {
  override readonly name = "TransactionRevertedError";
  constructor(readonly txHash: Hash) {
    super("TRANSACTION_REVERTED", `Transaction ${txHash} was mined but reverted.`, { details: { txHash } });
  }
}

function signer(ref: TWriteRef): {
  address: Address;
  abi: typeof orchestratorAbi;
  account: Account;
  chain: Chain | null;
} {
  if (ref.wallet.account === undefined) throw new WalletAccountMissingError();
  return {
    address: ref.contract,
    abi: orchestratorAbi,
    account: ref.wallet.account,
    chain: ref.wallet.chain ?? null,
  };
}

/** Registers the wallet's account as an operator, bonding `stake` wei. */
export function registerOperator(ref: TWriteRef & TOperatorProfile & { stake: bigint }): Promise<Hash> {
  return writeContract(ref.wallet, {
    ...signer(ref),
    functionName: "register",
    args: [ref.nodeKey, ref.region, ref.capacity, ref.metadata],
    value: ref.stake,
  });
}

/** Replaces the node key, region, capacity and metadata of the wallet's registration. */
export function updateOperator(ref: TWriteRef & TOperatorProfile): Promise<Hash> {
  return writeContract(ref.wallet, {
    ...signer(ref),
    functionName: "update",
    args: [ref.nodeKey, ref.region, ref.capacity, ref.metadata],
  });
}

/** Adds `amount` wei to the wallet's stake. */
export function addStake(ref: TWriteRef & { amount: bigint }): Promise<Hash> {
  return writeContract(ref.wallet, { ...signer(ref), functionName: "addStake", value: ref.amount });
}

/** Starts unbonding the wallet's registration (inactive at once, withdrawable after the delay). */
export function deregisterOperator(ref: TWriteRef): Promise<Hash> {
  return writeContract(ref.wallet, { ...signer(ref), functionName: "deregister" });
}

/** Withdraws the wallet's stake after unbonding and deletes its registration. */
export function withdrawStake(ref: TWriteRef): Promise<Hash> {
  return writeContract(ref.wallet, { ...signer(ref), functionName: "withdraw" });
}

/** Governance only: moves `amount` wei of `operator`'s stake to the treasury. */
export function slashOperator(
  ref: TWriteRef & { operator: Address; amount: bigint; reason: string },
): Promise<Hash> {
  return writeContract(ref.wallet, {
    ...signer(ref),
    functionName: "slash",
    args: [ref.operator, ref.amount, ref.reason],
  });
}

/** Governance only: changes the receiver of slashed stake. */
export function setTreasury(ref: TWriteRef & { treasury: Address }): Promise<Hash> {
  return writeContract(ref.wallet, { ...signer(ref), functionName: "setTreasury", args: [ref.treasury] });
}

/** Governance only: hands governance to `governance`. */
export function transferGovernance(ref: TWriteRef & { governance: Address }): Promise<Hash> {
  return writeContract(ref.wallet, {
    ...signer(ref),
    functionName: "transferGovernance",
    args: [ref.governance],
  });
}

/** Records the wallet owner's approval of `imageDigest` for `buildId` (emits BuildCommitted). */
export function commitBuild(ref: TWriteRef & { buildId: Hex; imageDigest: Hex }): Promise<Hash> {
  return writeContract(ref.wallet, {
    ...signer(ref),
    functionName: "commitBuild",
    args: [ref.buildId, ref.imageDigest],
  });
}

/** Waits for `txHash` to be mined; throws TransactionRevertedError when it reverted. */
export async function waitForSuccess(
  client: Client,
  txHash: Hash,
  options: { timeoutMs?: number; pollingIntervalMs?: number } = {},
): Promise<{ blockNumber: bigint; gasUsed: bigint }> {
  const receipt = await waitForTransactionReceipt(client, {
    hash: txHash,
    timeout: options.timeoutMs ?? 60_000,
    pollingInterval: options.pollingIntervalMs,
  });
  if (receipt.status !== "success") throw new TransactionRevertedError(txHash);
  return { blockNumber: receipt.blockNumber, gasUsed: receipt.gasUsed };
}
