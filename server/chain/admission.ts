import {
  type Address,
  BaseError,
  createPublicClient,
  getAddress,
  type Hex,
  http,
  isAddress,
  type PublicClient,
} from "viem";
import { createLogger, type Logger } from "@/core/log";
import { chainFromConfig, nodeKeyFromAddress } from "@/lib/chain/config";
import { readIsActive, readOperatorOfNodeKey } from "@/lib/chain/read";
import { followOrchestratorEvents } from "./event-follower";

/**
 * Agent admission against the orchestrator contract. An agent address is admitted when it is an
 * active operator itself, or the node key (address left-padded to 32 bytes) of an active operator,
 * or on the static allow-list. Results are cached; the cache entry of an operator is dropped as soon
 * as the contract emits an event about it (registration, update, stake, deregistration, slashing),
 * so a slashed node loses admission within one event-polling interval rather than one TTL.
 */
export type TAdmissionOptions = {
  rpcUrl: string;
  chainId: number;
  contract: Address;
  /** Addresses admitted without asking the chain (operators trusted by this console). */
  allowlist?: readonly string[];
  /** Event polling interval; defaults to 200 ms on a loopback RPC and 2 s elsewhere. */
  pollingIntervalMs?: number;
  /** Upper bound on a cached answer's age, in case an event was missed (default 60 s). */
  cacheTtlMs?: number;
  logger?: Logger;
};

export type TAdmission = {
  /** True when `address` may connect as a node agent. Fails closed (false) when the chain is unreachable. */
  isAdmitted(address: string): Promise<boolean>;
  /** Drops the cached answer for `address`, or every cached answer. */
  invalidate(address?: string): void;
  /** Counters for logs and tests. */
  stats(): { hits: number; misses: number; invalidations: number; cached: number };
  /** Stops watching contract events. */
  close(): void;
};

type TEntry = { admitted: boolean; operator: Address | undefined; expiresAt: number };

const ADDRESS_KEY = /^0x0{24}([0-9a-f]{40})$/;

/** Creates the console's admission check for the agent gateway. */
export function createAdmission(options: TAdmissionOptions): TAdmission {
  const log = options.logger ?? createLogger("chain-admission", { contract: options.contract });
  const loopback = /^https?:\/\/(127\.|localhost|\[::1\])/.test(options.rpcUrl);
  const pollingInterval = options.pollingIntervalMs ?? (loopback ? 200 : 2000);
  const ttl = options.cacheTtlMs ?? 60_000;
  const client: PublicClient = createPublicClient({
    chain: chainFromConfig(options),
    transport: http(options.rpcUrl),
    pollingInterval,
  });
  const allowed = new Set((options.allowlist ?? []).map((a) => a.toLowerCase()));
  const cache = new Map<string, TEntry>();
  const inflight = new Map<string, Promise<TEntry>>();
  const counters = { hits: 0, misses: 0, invalidations: 0 };
  // Bumped by a full invalidation, so a read in flight across it is not cached.
  let generation = 0;

  const invalidateOperator = (operator: string) => {
    const key = operator.toLowerCase();
    for (const [address, entry] of cache) {
      if (address === key || entry.operator?.toLowerCase() === key) cache.delete(address);
    }
  };
  const invalidate = (address?: string) => {
    counters.invalidations += 1;
    if (address !== undefined) return invalidateOperator(address);
    generation += 1;
    cache.clear();
  };

  const follower = followOrchestratorEvents({
    client,
    contract: options.contract,
    pollingIntervalMs: pollingInterval,
    onLogs: (logs) => {
      for (const entry of logs) {
        const args = entry.args;
        const operator = "operator" in args ? args.operator : undefined;
        const nodeKey: Hex | undefined = "nodeKey" in args ? args.nodeKey : undefined;
        if (operator === undefined) continue;
        invalidate(operator);
        const nodeAddress = nodeKey === undefined ? undefined : ADDRESS_KEY.exec(nodeKey.toLowerCase())?.[1];
        if (nodeAddress !== undefined) invalidate(`0x${nodeAddress}`);
        log.debug({ event: entry.eventName, operator }, "admission cache invalidated by event");
      }
    },
    onGap: (reason, err) => {
      // Events may have been missed: forget everything rather than serve a stale answer.
      invalidate();
      log.warn({ reason, error: err === undefined ? undefined : summarize(err) }, "admission cache cleared");
    },
  });

  const resolve = async (address: Address): Promise<TEntry & { block: bigint }> => {
    // Every read is pinned to one block, so the answer is consistent and comparable with the follower.
    const block = await client.getBlockNumber({ cacheTime: 0 });
    const ref = { client, contract: options.contract, blockNumber: block };
    if (await readIsActive({ ...ref, operator: address })) {
      return { admitted: true, operator: address, expiresAt: 0, block };
    }
    const operator = await readOperatorOfNodeKey({ ...ref, nodeKey: nodeKeyFromAddress(address) });
    const admitted = operator !== undefined && (await readIsActive({ ...ref, operator }));
    return { admitted, operator, expiresAt: 0, block };
  };

  const lookup = (address: Address): Promise<TEntry> => {
    const key = address.toLowerCase();
    const pending = inflight.get(key);
    if (pending !== undefined) return pending;
    const startedGeneration = generation;
    const promise = resolve(address)
      .then(({ block, ...entry }) => {
        const stamped = { ...entry, expiresAt: Date.now() + ttl };
        // Cache only answers no undelivered event can contradict: the follower has not yet passed the
        // block we read at, so any later event about this operator still reaches invalidate().
        const processed = follower.processedBlock();
        if (generation === startedGeneration && processed !== undefined && processed <= block) {
          cache.set(key, stamped);
        }
        return stamped;
      })
      .finally(() => inflight.delete(key));
    inflight.set(key, promise);
    return promise;
  };

  return {
    async isAdmitted(address) {
      if (!isAddress(address, { strict: false })) return false;
      const key = address.toLowerCase();
      if (allowed.has(key)) return true;
      const cached = cache.get(key);
      if (cached !== undefined && cached.expiresAt > Date.now()) {
        counters.hits += 1;
        return cached.admitted;
      }
      counters.misses += 1;
      try {
        return (await lookup(getAddress(address))).admitted;
      } catch (err) {
        log.warn(
          { error: summarize(err), address: key },
          "admission check could not read the orchestrator; refusing",
        );
        return false;
      }
    },
    invalidate,
    stats: () => ({ ...counters, cached: cache.size }),
    close: () => follower.close(),
  };
}

// viem errors carry the whole ABI and request; logs only need what went wrong.
function summarize(err: unknown): { name: string; message: string; details?: string } {
  if (err instanceof BaseError) return { name: err.name, message: err.shortMessage, details: err.details };
  if (err instanceof Error) return { name: err.name, message: err.message };
  return { name: "unknown", message: String(err) };
}
