import type { Address, Log, PublicClient } from "viem";
import { orchestratorAbi } from "@/lib/chain/abi";

export type TOrchestratorLog = Log<bigint, number, false, undefined, true, typeof orchestratorAbi>;

export type TEventFollowerOptions = {
  client: PublicClient;
  contract: Address;
  pollingIntervalMs: number;
  /** Widest block range fetched in one eth_getLogs; a longer gap calls `onGap` instead. */
  maxRange?: bigint;
  onLogs(logs: TOrchestratorLog[]): void;
  /** Events may have been missed (RPC errors, chain reset, too large a gap). */
  onGap(reason: string, error?: unknown): void;
};

export type TEventFollower = {
  /** Highest block whose events were delivered; undefined until the first poll succeeded. */
  processedBlock(): bigint | undefined;
  close(): void;
};

/**
 * Follows the orchestrator's events by block range with eth_getLogs. Unlike an RPC filter installed
 * some time after start, it knows exactly which blocks it has covered, so a cache can tell whether
 * an answer read at block B could have missed a later event (B < processedBlock).
 */
export function followOrchestratorEvents(options: TEventFollowerOptions): TEventFollower {
  const maxRange = options.maxRange ?? 5000n;
  let processed: bigint | undefined;
  let closed = false;
  let timer: ReturnType<typeof setTimeout> | undefined;

  const pollOnce = async () => {
    const latest = await options.client.getBlockNumber({ cacheTime: 0 });
    if (processed === undefined || latest < processed) {
      // First poll, or the chain went backwards (a restarted devnet, a reorg deeper than we follow).
      if (processed !== undefined) options.onGap(`chain head moved back from ${processed} to ${latest}`);
      processed = latest;
      return;
    }
    if (latest === processed) return;
    if (latest - processed > maxRange) {
      options.onGap(`${latest - processed} blocks since the last poll`);
      processed = latest;
      return;
    }
    const logs = await options.client.getContractEvents({
      address: options.contract,
      abi: orchestratorAbi,
      fromBlock: processed + 1n,
      toBlock: latest,
      strict: true,
    });
    processed = latest;
    if (logs.length > 0) options.onLogs(logs);
  };

  const schedule = (delay: number) => {
    if (closed) return;
    timer = setTimeout(() => {
      pollOnce().then(
        () => schedule(options.pollingIntervalMs),
        (err: unknown) => {
          options.onGap("polling orchestrator events failed", err);
          schedule(options.pollingIntervalMs);
        },
      );
    }, delay);
    // The follower must not keep a process alive on its own; owners call close() on shutdown.
    if (typeof timer === "object" && "unref" in timer) timer.unref();
  };
  schedule(0);

  return {
    processedBlock: () => processed,
    close: () => {
      closed = true;
      if (timer !== undefined) clearTimeout(timer);
    },
  };
}
