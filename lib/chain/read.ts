import type { Address, Client, Hex } from "viem";
import { readContract } from "viem/actions";
import { orchestratorAbi } from "./abi";
import type { TCapacity } from "./config";

/** An operator's registration as read from the contract (zero values when not registered). */
export type TOperator = {
  registered: boolean;
  nodeKey: Hex;
  region: string;
  capacity: TCapacity;
  metadata: string;
  stake: bigint;
  registeredAt: number;
  /** Unix seconds when the stake may be withdrawn; 0 while the operator is not deregistering. */
  unbondingEndsAt: number;
};

export type TContractRef = {
  client: Client;
  contract: Address;
  /** Read at this block instead of the latest one. */
  blockNumber?: bigint;
};

/** True when `operator` is registered, not deregistering and bonds at least the minimum stake. */
export function readIsActive(ref: TContractRef & { operator: Address }): Promise<boolean> {
  return readContract(ref.client, {
    address: ref.contract,
    abi: orchestratorAbi,
    blockNumber: ref.blockNumber,
    functionName: "isActive",
    args: [ref.operator],
  });
}

/** The registration of `operator`. */
export async function readOperator(ref: TContractRef & { operator: Address }): Promise<TOperator> {
  const op = await readContract(ref.client, {
    address: ref.contract,
    abi: orchestratorAbi,
    blockNumber: ref.blockNumber,
    functionName: "getOperator",
    args: [ref.operator],
  });
  return {
    registered: op.registered,
    nodeKey: op.nodeKey,
    region: op.region,
    capacity: { vcpu: op.capacity.vcpu, memoryMb: op.capacity.memoryMb, diskGb: op.capacity.diskGb },
    metadata: op.metadata,
    stake: op.stake,
    registeredAt: Number(op.registeredAt),
    unbondingEndsAt: Number(op.unbondingEndsAt),
  };
}

/** The operator that registered `nodeKey`, or undefined. */
export async function readOperatorOfNodeKey(
  ref: TContractRef & { nodeKey: Hex },
): Promise<Address | undefined> {
  const operator = await readContract(ref.client, {
    address: ref.contract,
    abi: orchestratorAbi,
    blockNumber: ref.blockNumber,
    functionName: "operatorOfNodeKey",
    args: [ref.nodeKey],
  });
  return /^0x0{40}$/.test(operator) ? undefined : operator;
}

/** The stake (wei) an operator must bond to be active. */
export function readMinimumStake(ref: TContractRef): Promise<bigint> {
  return readContract(ref.client, {
    address: ref.contract,
    abi: orchestratorAbi,
    blockNumber: ref.blockNumber,
    functionName: "minimumStake",
  });
}

/** The commitment `owner` made for `buildId`, or undefined when none was made. */
export async function readBuildCommitment(
  ref: TContractRef & { owner: Address; buildId: Hex },
): Promise<{ imageDigest: Hex; committedAt: number } | undefined> {
  const c = await readContract(ref.client, {
    address: ref.contract,
    abi: orchestratorAbi,
    blockNumber: ref.blockNumber,
    functionName: "buildCommitment",
    args: [ref.owner, ref.buildId],
  });
  return /^0x0{64}$/.test(c.imageDigest)
    ? undefined
    : { imageDigest: c.imageDigest, committedAt: Number(c.committedAt) };
}

/** True when `owner`'s latest commitment for `buildId` is exactly `imageDigest`. */
export function readIsCommitted(
  ref: TContractRef & { owner: Address; buildId: Hex; imageDigest: Hex },
): Promise<boolean> {
  return readContract(ref.client, {
    address: ref.contract,
    abi: orchestratorAbi,
    blockNumber: ref.blockNumber,
    functionName: "isCommitted",
    args: [ref.owner, ref.buildId, ref.imageDigest],
  });
}
