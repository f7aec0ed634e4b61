import { randomBytes } from "node:crypto";
import {
  type Address,
  BaseError,
  createPublicClient,
  createWalletClient,
  getAddress,
  type Hex,
  http,
  isHex,
  type PublicClient,
  type WalletClient,
} from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { getContractEvents } from "viem/actions";
import type { Logger } from "@/core/log";
import { orchestratorAbi } from "@/lib/chain/abi";
import { commitBuildFor, readCommitNonce } from "@/lib/chain/build-commitment";
import {
  buildIdToBytes32,
  COMMITMENT_TTL_SECONDS,
  checkSignedCommitment,
  imageDigestFromBytes32,
  imageDigestToBytes32,
  type TCommitmentDraft,
  type TSignedCommitment,
} from "@/lib/chain/commitment";
import { chainFromConfig } from "@/lib/chain/config";
import { orchestratorErrorName } from "@/lib/chain/errors";
import { readBuildCommitment } from "@/lib/chain/read";
import { waitForSuccess } from "@/lib/chain/write";
import type { TCommitmentRow, TCommitmentsRepository } from "@/server/db/repositories/commitments-repository";
import { AppError } from "@/server/errors";

/**
 * Build commitments on ship: the owner signs EIP-712 `BuildCommitment` (lib/chain), the console
 * checks it offline BEFORE the ship changes anything, records a row linked to the deployment and
 * relays `commitBuildFor` with its own funded key in the background (the VM placement never waits
 * for the chain). A failed relay is recorded with its reason and shown on the instance page.
 */
export type TChainRef = { rpcUrl: string; chainId: number; contract: Address };

export type TBuildCommitmentsOptions = {
  repo: TCommitmentsRepository;
  /** null: no chain configured (ships still work; the UI says so). */
  chain: TChainRef | null;
  relayerPrivateKey?: Hex | undefined;
  log: Logger;
  /** Unix seconds (tests). */
  now?: () => number;
  /** How long to wait for a relay transaction to be mined (default 120 s). */
  receiptTimeoutMs?: number;
};

export type TOnChainCheck = {
  /** The contract holds the owner's commitment of this build to exactly this digest. */
  verified: boolean;
  onChainDigest: string | null;
  committedAt: number | null;
  /** Why the chain could not be read (verification unknown). */
  error: string | null;
};

/** A hex string read back from the database (written by this service, so malformed means corrupt). */
function hexOf(value: string): Hex {
  if (!isHex(value)) throw new Error(`stored value is not hex: ${value.slice(0, 20)}…`);
  return value;
}

/** Turns a relay failure into a sentence for the instance page. */
export function describeRelayError(error: unknown): string {
  const name = orchestratorErrorName(error);
  if (name === "InvalidSignature")
    return "InvalidSignature: the contract refused the signature (its nonce moved on?) — ship again to sign a new one";
  if (name === "SignatureExpired")
    return "SignatureExpired: the commitment's deadline passed before it was relayed";
  if (name !== undefined) return `the contract refused the commitment: ${name}`;
  if (error instanceof BaseError) return error.shortMessage;
  return error instanceof Error ? error.message : String(error);
}

export function createBuildCommitments(o: TBuildCommitmentsOptions) {
  const repo = o.repo;
  const now = o.now ?? (() => Math.floor(Date.now() / 1000));
  const chain = o.chain;
  const loopback = chain !== null && /^https?:\/\/(127\.|localhost|\[::1\])/.test(chain.rpcUrl);
  const viemChain = chain ? chainFromConfig(chain) : undefined;
  const client: PublicClient | null = chain
    ? createPublicClient({
        chain: viemChain,
        transport: http(chain.rpcUrl, { retryCount: 1 }),
        pollingInterval: loopback ? 100 : 2000,
      })
    : null;
  const wallet: WalletClient | null =
    chain && o.relayerPrivateKey
      ? createWalletClient({
          account: privateKeyToAccount(o.relayerPrivateKey),
          chain: viemChain,
          // Reverts come back as JSON-RPC errors that viem would otherwise retry with back-off.
          transport: http(chain.rpcUrl, { retryCount: 0 }),
        })
      : null;
  // One relayer key, one transaction at a time: concurrent sends would pick the same account nonce.
  let queue: Promise<void> = Promise.resolve();
  const inflight = new Map<string, Promise<void>>();
  let closed = false;

  async function findCommitTx(row: TCommitmentRow): Promise<{ txHash: string; blockNumber: number } | null> {
    const twin = await repo.confirmedTwin({
      owner: row.owner,
      buildId: row.buildId,
      imageDigest: row.imageDigest,
      chainId: row.chainId,
      contract: row.contract,
    });
    if (twin?.txHash) return { txHash: twin.txHash, blockNumber: twin.blockNumber ?? 0 };
    if (!client || !chain) return null;
    try {
      const logs = await getContractEvents(client, {
        address: chain.contract,
        abi: orchestratorAbi,
        eventName: "BuildCommitted",
        args: { owner: getAddress(row.owner), buildId: buildIdToBytes32(row.buildId) },
        fromBlock: 0n,
      });
      const digest = imageDigestToBytes32(row.imageDigest);
      const last = logs.filter((l) => l.args.imageDigest?.toLowerCase() === digest).at(-1);
      return last?.transactionHash && last.blockNumber !== null
        ? { txHash: last.transactionHash, blockNumber: Number(last.blockNumber) }
        : null;
    } catch (error) {
      // Some RPCs refuse log queries from block 0; the commitment still stands on chain.
      o.log.warn(
        { err: error, commitmentId: row.id },
        "could not look up the earlier commitment transaction",
      );
      return null;
    }
  }

  async function relay(row: TCommitmentRow): Promise<void> {
    const log = o.log.child({ commitmentId: row.id, buildId: row.buildId });
    try {
      if (!client || !chain) throw new Error("no chain configured");
      const stored = await readBuildCommitment({
        client,
        contract: chain.contract,
        owner: getAddress(row.owner),
        buildId: buildIdToBytes32(row.buildId),
      });
      if (stored && imageDigestFromBytes32(stored.imageDigest) === row.imageDigest) {
        // Shipped before (or committed by the owner's own wallet): link what is there.
        const tx = await findCommitTx(row);
        await repo.update(row.id, {
          status: "confirmed",
          existing: true,
          txHash: tx?.txHash ?? null,
          blockNumber: tx?.blockNumber ?? null,
          reason: tx ? null : "already committed on chain (transaction not found)",
        });
        log.info({ txHash: tx?.txHash }, "build already committed on chain: linked");
        return;
      }
      if (!wallet) throw new Error("this console has no relayer key (set CHAIN_RELAYER_PRIVATE_KEY)");
      let txHash = row.txHash === null ? null : hexOf(row.txHash);
      if (!txHash) {
        txHash = await commitBuildFor({
          wallet,
          contract: chain.contract,
          message: {
            owner: getAddress(row.owner),
            buildId: buildIdToBytes32(row.buildId),
            imageDigest: imageDigestToBytes32(row.imageDigest),
            deadline: BigInt(row.deadline),
          },
          signature: hexOf(row.signature),
        });
        await repo.update(row.id, { txHash });
      }
      const { blockNumber } = await waitForSuccess(client, txHash, {
        timeoutMs: o.receiptTimeoutMs ?? 120_000,
      });
      await repo.update(row.id, { status: "confirmed", blockNumber: Number(blockNumber), reason: null });
      log.info({ txHash, blockNumber: Number(blockNumber) }, "build commitment mined");
    } catch (error) {
      const reason = describeRelayError(error);
      // A contract revert is fully described by its reason; anything else keeps its error chain.
      if (orchestratorErrorName(error) !== undefined) log.warn({ reason }, "build commitment relay refused");
      else log.warn({ err: error, reason }, "build commitment relay failed");
      await repo.update(row.id, { status: "failed", reason }).catch((e: unknown) => {
        log.error({ err: e }, "could not record the failed relay");
      });
    }
  }

  function schedule(row: TCommitmentRow): Promise<void> {
    const run = queue.then(() => relay(row));
    queue = run;
    inflight.set(row.id, run);
    void run.finally(() => inflight.delete(row.id));
    return run;
  }

  return {
    /** The chain commitments go to, or null when none is configured. */
    chain: chain ? { chainId: chain.chainId, contract: chain.contract } : null,

    /** What the owner signs to commit `build` (nonce read from the contract, short deadline). */
    async draft(opts: {
      owner: Address;
      buildId: string;
      imageDigest: string;
    }): Promise<TCommitmentDraft | null> {
      if (!chain || !client) return null;
      let nonce: bigint;
      try {
        nonce = await readCommitNonce({ client, contract: chain.contract, owner: opts.owner });
      } catch (error) {
        throw new AppError(
          "UNAVAILABLE",
          `The chain at ${chain.rpcUrl} is unreachable: ${describeRelayError(error)}`,
          {
            cause: error,
          },
        );
      }
      return {
        chainId: chain.chainId,
        contract: chain.contract,
        owner: opts.owner,
        buildId: buildIdToBytes32(opts.buildId),
        imageDigest: imageDigestToBytes32(opts.imageDigest),
        nonce: nonce.toString(),
        deadline: now() + COMMITMENT_TTL_SECONDS,
      };
    },

    /** Throws an AppError when `commitment` is not the owner's for this build and digest here. */
    async check(opts: {
      owner: Address;
      buildId: string;
      imageDigest: string;
      commitment: TSignedCommitment;
    }): Promise<void> {
      if (!chain)
        throw new AppError("BAD_REQUEST", "This console has no chain configured: ship without a commitment");
      const problem = await checkSignedCommitment({
        ...opts,
        chainId: chain.chainId,
        contract: chain.contract,
        now: now(),
      });
      if (!problem) return;
      const code =
        problem.code === "digest"
          ? "BAD_REQUEST"
          : problem.code === "expired"
            ? "SIGNATURE_EXPIRED"
            : "SIGNATURE_INVALID";
      throw new AppError(code, `Build commitment rejected: ${problem.message}`, {
        details: { commitment: problem.code },
      });
    },

    /** Records a checked commitment for `deploymentId` and relays it in the background. */
    async record(opts: {
      deploymentId: string;
      owner: Address;
      buildId: string;
      imageDigest: string;
      commitment: TSignedCommitment;
    }): Promise<TCommitmentRow> {
      if (!chain) throw new AppError("BAD_REQUEST", "This console has no chain configured");
      const row = await repo.insert({
        id: `c-${randomBytes(10).toString("hex")}`,
        deploymentId: opts.deploymentId,
        owner: opts.owner.toLowerCase(),
        buildId: opts.buildId,
        imageDigest: opts.imageDigest,
        chainId: chain.chainId,
        contract: chain.contract,
        nonce: opts.commitment.nonce,
        deadline: opts.commitment.deadline,
        signature: opts.commitment.signature,
      });
      if (!closed) void schedule(row);
      return row;
    },

    /** Relays rows a previous console process left pending. */
    async resumePending(): Promise<number> {
      const rows = await repo.pending();
      for (const row of rows) if (!inflight.has(row.id)) void schedule(row);
      return rows.length;
    },

    /** The newest commitment of `owner` for `buildId`. */
    forBuild(opts: { owner: string; buildId: string }): Promise<TCommitmentRow | null> {
      return repo.latestForBuild({ owner: opts.owner.toLowerCase(), buildId: opts.buildId });
    },

    /** The newest commitment of `owner` for each of `buildIds` (one query, for listings). */
    forBuilds(opts: { owner: string; buildIds: readonly string[] }): Promise<Map<string, TCommitmentRow>> {
      return repo.latestForBuilds({ owner: opts.owner.toLowerCase(), buildIds: opts.buildIds });
    },

    /** Reads the contract: does it hold `owner`'s commitment of `buildId` to `imageDigest`? */
    async verifyOnChain(opts: {
      owner: string;
      buildId: string;
      imageDigest: string;
    }): Promise<TOnChainCheck | null> {
      if (!chain || !client) return null;
      try {
        const stored = await readBuildCommitment({
          client,
          contract: chain.contract,
          owner: getAddress(opts.owner),
          buildId: buildIdToBytes32(opts.buildId),
        });
        const onChainDigest = stored ? imageDigestFromBytes32(stored.imageDigest) : null;
        return {
          verified: onChainDigest === opts.imageDigest,
          onChainDigest,
          committedAt: stored?.committedAt ?? null,
          error: null,
        };
      } catch (error) {
        return { verified: false, onChainDigest: null, committedAt: null, error: describeRelayError(error) };
      }
    },

    /** Resolves when the relay of `commitmentId` (if running) has finished (tests, shutdown). */
    async settled(commitmentId?: string): Promise<void> {
      if (commitmentId === undefined) await Promise.allSettled([...inflight.values()]);
      else await inflight.get(commitmentId);
    },

    /** Stops taking new relays and waits (at most 10 s) for running ones; the rest resume on restart. */
    async close(): Promise<void> {
      closed = true;
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.allSettled([...inflight.values()]),
        new Promise((resolve) => {
          timer = setTimeout(resolve, 10_000);
        }),
      ]);
      clearTimeout(timer);
    },
  };
}

export type TBuildCommitments = ReturnType<typeof createBuildCommitments>;
