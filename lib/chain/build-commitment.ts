import type { Account, Address, Chain, Client, Hash, Hex, Transport } from "viem";
import { readContract, signTypedData, writeContract } from "viem/actions";
import { orchestratorAbi } from "./abi";
import { type TWriteRef, WalletAccountMissingError } from "./write";

/** The EIP-712 types an owner signs so that a relayer can commit a build in the owner's name. */
export const buildCommitmentTypes = {
  BuildCommitment: [
    { name: "owner", type: "address" },
    { name: "buildId", type: "bytes32" },
    { name: "imageDigest", type: "bytes32" },
    { name: "nonce", type: "uint256" },
    { name: "deadline", type: "uint256" },
  ],
} as const;

export type TBuildCommitmentMessage = {
  owner: Address;
  buildId: Hex;
  imageDigest: Hex;
  nonce: bigint;
  /** Unix seconds after which the signature is refused. */
  deadline: bigint;
};

/** Typed data for `signTypedData` (viem, wagmi or any EIP-712 wallet) over one build commitment. */
export function buildCommitmentTypedData(options: {
  chainId: number;
  contract: Address;
  message: TBuildCommitmentMessage;
}) {
  return {
    domain: {
      name: "Formation Orchestrator",
      version: "1",
      chainId: options.chainId,
      verifyingContract: options.contract,
    },
    types: buildCommitmentTypes,
    primaryType: "BuildCommitment",
    message: options.message,
  } as const;
}

/** The nonce the owner's next relayed commitment must carry. */
export function readCommitNonce(ref: { client: Client; contract: Address; owner: Address }): Promise<bigint> {
  return readContract(ref.client, {
    address: ref.contract,
    abi: orchestratorAbi,
    functionName: "commitNonces",
    args: [ref.owner],
  });
}

/**
 * Signs a build commitment with the owner's wallet (no transaction, no gas); hand the signature to
 * the console, which relays it with `commitBuildFor`.
 */
export async function signBuildCommitment(options: {
  wallet: Client<Transport, Chain | undefined, Account | undefined>;
  chainId: number;
  contract: Address;
  buildId: Hex;
  imageDigest: Hex;
  nonce: bigint;
  deadline: bigint;
}): Promise<{ message: TBuildCommitmentMessage; signature: Hex }> {
  const account = options.wallet.account;
  if (account === undefined) throw new WalletAccountMissingError();
  const message = {
    owner: account.address,
    buildId: options.buildId,
    imageDigest: options.imageDigest,
    nonce: options.nonce,
    deadline: options.deadline,
  };
  const signature = await signTypedData(options.wallet, {
    account,
    ...buildCommitmentTypedData({ chainId: options.chainId, contract: options.contract, message }),
  });
  return { message, signature };
}

/** Relays an owner's signed commitment; the relaying wallet (the console's key) pays the gas. */
export function commitBuildFor(
  ref: TWriteRef & { message: Omit<TBuildCommitmentMessage, "nonce">; signature: Hex },
): Promise<Hash> {
  const account = ref.wallet.account;
  if (account === undefined) throw new WalletAccountMissingError();
  const { owner, buildId, imageDigest, deadline } = ref.message;
  return writeContract(ref.wallet, {
    address: ref.contract,
    abi: orchestratorAbi,
    account,
    chain: ref.wallet.chain ?? null,
    functionName: "commitBuildFor",
    args: [owner, buildId, imageDigest, deadline, ref.signature],
  });
}
