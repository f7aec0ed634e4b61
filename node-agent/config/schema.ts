import { getAddress } from "viem";
import { z } from "zod";
import { DEVNET_CHAIN_ID } from "@/lib/chain/config";
import { FORMNET_DEFAULT_PORT, ZEndpoint } from "@/lib/formnet/schemas";

/**
 * The operator's agent configuration, `<data-dir>/agent.json`. Written by `node-agent init`, read
 * once by `node-agent run`. Secrets never live here: the operator key is in the encrypted keystore
 * and its password comes from the environment, a flag or a file at run time.
 */

export const AGENT_CONFIG_VERSION = 1;
/** 1 ether: the devnet orchestrator's minimum stake. */
export const DEFAULT_STAKE_WEI = "1000000000000000000";
export const DEFAULT_DATA_DIR = "/var/lib/formation/node-agent";
/** Builder cache (Debian base rootfs, .deb cache, built images); shared by builds, keyed by content. */
export const DEFAULT_CACHE_DIR = "/var/cache/formation";

const ZHttpUrl = z.url({ protocol: /^https?$/ });
const ZEthAddress = z
  .string()
  .regex(/^0x[0-9a-fA-F]{40}$/, "expected a 0x-prefixed 20-byte hex address")
  .transform((value) => getAddress(value));
/** Linux interface names are at most 15 bytes and may not contain `/`, whitespace or `:`. */
const ZInterfaceName = z
  .string()
  .regex(/^[A-Za-z0-9_.-]{1,15}$/, "expected an interface name of 1–15 characters");

export const ZCapacity = z.object({
  vcpu: z.number().int().min(1).max(1024),
  memoryMb: z.number().int().min(256).max(16_777_216),
  diskGb: z.number().int().min(1).max(1_048_576),
});
export type TCapacity = z.infer<typeof ZCapacity>;

export const ZAgentConfig = z.object({
  version: z.literal(AGENT_CONFIG_VERSION),
  operator: z.object({
    /** Checksummed address of the operator key, repeated here so `status` needs no password. */
    address: ZEthAddress,
    /** Web3 Secret Storage JSON; relative paths resolve against the data directory. */
    keystorePath: z.string().min(1),
  }),
  console: z.object({ url: ZHttpUrl }),
  /** Absent means "do not register on chain" (a console-only devnet). */
  chain: z
    .object({
      rpcUrl: ZHttpUrl,
      contractAddress: ZEthAddress,
      chainId: z.number().int().positive().default(DEVNET_CHAIN_ID),
      /** Stake bonded on registration (wei, decimal string: JSON has no bigints). */
      stakeWei: z.string().regex(/^\d+$/, "expected a decimal number of wei").default(DEFAULT_STAKE_WEI),
    })
    .optional(),
  node: z.object({
    region: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, "expected a lowercase region slug such as eu-west"),
    capacity: ZCapacity,
  }),
  dataDir: z.string().startsWith("/", "the data directory must be an absolute path"),
  cacheDir: z
    .string()
    .startsWith("/", "the cache directory must be an absolute path")
    .default(DEFAULT_CACHE_DIR),
  formnet: z.object({
    /** Off only for hosts that join formnet some other way (and in tests without WireGuard). */
    enabled: z.boolean().default(true),
    listenPort: z.number().int().min(1).max(65_535).default(FORMNET_DEFAULT_PORT),
    /** Absent: derived from the node id, so several agents on one host never share a name. */
    interfaceName: ZInterfaceName.optional(),
    /** Public `host:port` candidates peers may dial; empty means "let peers learn it from the console". */
    endpoints: z.array(ZEndpoint).max(16).default([]),
  }),
  /** Absent bridge name: derived from the data directory (unique per agent on a host). */
  network: z.object({ bridgeName: ZInterfaceName.optional() }),
  jobs: z
    .object({
      maxConcurrent: z.number().int().min(1).max(64).default(2),
      /** How long a graceful stop waits for in-flight jobs before aborting them. */
      shutdownGraceMs: z.number().int().min(0).max(600_000).default(10_000),
      /** Deadline for a booted VM's SSH port to answer. */
      sshReadyTimeoutMs: z.number().int().min(1_000).max(3_600_000).default(180_000),
    })
    .default({ maxConcurrent: 2, shutdownGraceMs: 10_000, sshReadyTimeoutMs: 180_000 }),
  /**
   * Image GC (at start and after each build): images no VM here uses, not among the `keepRecent`
   * most recently used and not used in the last `minAgeMinutes` are deleted from the store and the
   * builder cache. The disk images take is bounded by those two.
   */
  images: z
    .object({
      keepRecent: z.number().int().min(0).max(10_000).default(5),
      minAgeMinutes: z.number().int().min(1).max(10_080).default(30),
    })
    .default({ keepRecent: 5, minAgeMinutes: 30 }),
  /**
   * `snapshots`: after the first boot of an image and VM shape, keep a snapshot of a pristine booted
   * template VM of it and launch later new VMs of that shape from it (docs/node-agent-vm.md).
   */
  vms: z.object({ snapshots: z.boolean().default(true) }).default({ snapshots: true }),
});
export type TAgentConfig = z.infer<typeof ZAgentConfig>;
export type TAgentConfigInput = z.input<typeof ZAgentConfig>;
