import { z } from "zod";
import { envMs, parseEnv, type TEnvSource } from "@/lib/env";
import { DEVNET_POLICY, type TNetworkPolicy, ZNetworkPolicy } from "@/lib/formfile/policy";
import { parseCidr } from "@/lib/formnet/cidr";
import { FORMNET_DEFAULT_CIDR } from "@/lib/formnet/schemas";
import { DEFAULT_MAX_DEVICES_PER_USER } from "@/server/services/nodes/formnet-service";

/** Control-plane settings from the environment (documented in docs/control-plane.md). */
export const ZControlPlaneEnv = z.object({
  FORMATION_HEARTBEAT_MS: envMs(5_000),
  FORMATION_NODE_OFFLINE_MS: envMs(15_000),
  FORMATION_JOB_LEASE_MS: envMs(30_000),
  FORMATION_JOB_ACK_MS: envMs(10_000),
  FORMATION_SWEEP_MS: envMs(1_000),
  FORMATION_HANDSHAKE_MS: envMs(10_000),
  FORMATION_MAX_BUILDS_PER_NODE: z.coerce.number().int().positive().default(1),
  FORMATION_BUILD_QUEUED_MS: envMs(10 * 60_000),
  FORMATION_BUILD_CLAIMED_MS: envMs(2 * 60_000),
  FORMATION_BUILD_TIMEOUT_MS: envMs(30 * 60_000),
  FORMATION_BOOT_TIMEOUT_MS: envMs(10 * 60_000),
  FORMATION_METRICS_SAMPLE_MS: envMs(15_000),
  FORMATION_METRICS_RETENTION_MS: envMs(24 * 3600_000),
  /** Age after which finished jobs and deleted replicas are removed from the database. */
  FORMATION_HISTORY_RETENTION_MS: envMs(7 * 24 * 3600_000),
  FORMATION_MAX_CONTEXT_BYTES: z.coerce
    .number()
    .int()
    .positive()
    .default(64 * 1024 * 1024),
  FORMATION_MAX_IMAGE_BYTES: z.coerce
    .number()
    .int()
    .positive()
    .default(8 * 1024 * 1024 * 1024),
  FORMATION_DEFAULT_REPLICAS: z.coerce.number().int().min(1).default(3),
  FORMATION_MAX_REPLICAS: z.coerce.number().int().min(1).default(9),
  /** JSON network policy (ZNetworkPolicy); defaults to devnet's limits. */
  FORMATION_NETWORK_POLICY: z.string().optional(),
  FORMATION_MAX_MALFORMED: z.coerce.number().int().positive().default(5),
  FORMATION_PEERS_COALESCE_MS: envMs(250),
  FORMATION_PEERS_COALESCE_MAX_MS: envMs(2_000),
  FORMATION_PEERS_PAGE_SIZE: z.coerce.number().int().positive().default(2_000),
  /** Devices one account may have joined to formnet at once. */
  FORMATION_FORMNET_MAX_DEVICES: z.coerce.number().int().positive().default(DEFAULT_MAX_DEVICES_PER_USER),
  /** formnet's root block (every member and VM address comes from it). */
  FORMATION_FORMNET_CIDR: z
    .string()
    .refine((v) => {
      try {
        parseCidr(v);
        return true;
      } catch {
        return false;
      }
    }, "expected an IPv4 block such as 10.42.0.0/16 (host bits zero)")
    .default(FORMNET_DEFAULT_CIDR),
  /** `1`: this console host joins formnet itself (its SSH to VMs goes over WireGuard). */
  FORMATION_CONSOLE_FORMNET: z.enum(["0", "1"]).default("0"),
  FORMATION_CONSOLE_FORMNET_PORT: z.coerce.number().int().min(1).max(65535).default(51821),
  /** Policy-routing table of the console's formnet address; 0: the main table. */
  FORMATION_CONSOLE_FORMNET_TABLE: z.coerce
    .number()
    .int()
    .min(0)
    .max(2 ** 31)
    .default(4242),
  /** Comma-separated `host:port` endpoints peers dial for the console (default: its addresses). */
  FORMATION_CONSOLE_FORMNET_ENDPOINTS: z.string().default(""),
  /** Bytes of uploaded build contexts one account may hold. */
  FORMATION_CONTEXT_QUOTA_BYTES: z.coerce
    .number()
    .int()
    .positive()
    .default(2 * 1024 * 1024 * 1024),
  /** Age after which a blob no build or instance references is deleted. */
  FORMATION_BLOB_GC_GRACE_MS: envMs(24 * 3600_000),
  /** How often the blob GC sweeps the blob store. */
  FORMATION_BLOB_GC_INTERVAL_MS: envMs(10 * 60_000),
  /** Newest shippable builds of each NAME whose images the console keeps (besides deployed ones). */
  FORMATION_IMAGE_KEEP_BUILDS: z.coerce.number().int().min(1).max(1000).default(5),
});

/** Per-user limits and the blob GC's timing (docs/console.md, "Ownership and quotas"). */
export type TResourceLimits = {
  formnetMaxDevices: number;
  contextQuotaBytes: number;
  blobGcGraceMs: number;
  blobGcIntervalMs: number;
  /** Newest shippable builds of each owner's NAME whose images are kept (rollback targets). */
  imageKeepBuilds: number;
};

/** The console host's own formnet membership (server/formnet). */
export type TConsoleFormnetConfig = {
  enabled: boolean;
  listenPort: number;
  /** Undefined: the main routing table. */
  routingTable: number | undefined;
  endpoints: string[];
};

export type TControlPlaneConfig = {
  /** formnet's root block. */
  formnetCidr: string;
  consoleFormnet: TConsoleFormnetConfig;
  heartbeatIntervalMs: number;
  offlineAfterMs: number;
  leaseMs: number;
  ackTimeoutMs: number;
  sweepIntervalMs: number;
  handshakeTimeoutMs: number;
  maxBuildsPerNode: number;
  buildDeadlines: { queuedMs: number; claimedMs: number; buildingMs: number };
  /** Longest time from placing a replica to it running (image download + boot). */
  bootTimeoutMs: number;
  metricsSampleMs: number;
  metricsRetentionMs: number;
  /** Finished jobs and deleted replicas older than this are removed (FORMATION_HISTORY_RETENTION_MS). */
  historyRetentionMs: number;
  maxContextBytes: number;
  maxImageBytes: number;
  replicas: { default: number; max: number };
  policy: TNetworkPolicy;
  maxMalformed: number;
  /**
   * Peer changes are pushed at most once per window: `peersCoalesceMs`, growing by 1 ms per 4
   * connected agents up to `peersCoalesceMaxMs` (a join storm at 5,000 agents would otherwise
   * send thousands of frames per change).
   */
  peersCoalesceMs: number;
  peersCoalesceMaxMs: number;
  /** Peers per `formnet.peers` frame of a full list sent to delta-capable agents (frame limit). */
  peersPageSize: number;
  limits: TResourceLimits;
};

/** Parses the control-plane settings; throws one error naming every bad variable. */
export function loadControlPlaneConfig(source: TEnvSource = process.env): TControlPlaneConfig {
  const e = parseEnv(ZControlPlaneEnv, source, "control-plane");
  const policy = e.FORMATION_NETWORK_POLICY
    ? ZNetworkPolicy.parse(JSON.parse(e.FORMATION_NETWORK_POLICY))
    : DEVNET_POLICY;
  return {
    formnetCidr: e.FORMATION_FORMNET_CIDR,
    consoleFormnet: {
      enabled: e.FORMATION_CONSOLE_FORMNET === "1",
      listenPort: e.FORMATION_CONSOLE_FORMNET_PORT,
      routingTable: e.FORMATION_CONSOLE_FORMNET_TABLE === 0 ? undefined : e.FORMATION_CONSOLE_FORMNET_TABLE,
      endpoints: e.FORMATION_CONSOLE_FORMNET_ENDPOINTS.split(",")
        .map((x) => x.trim())
        .filter(Boolean),
    },
    heartbeatIntervalMs: e.FORMATION_HEARTBEAT_MS,
    offlineAfterMs: e.FORMATION_NODE_OFFLINE_MS,
    leaseMs: e.FORMATION_JOB_LEASE_MS,
    ackTimeoutMs: e.FORMATION_JOB_ACK_MS,
    sweepIntervalMs: e.FORMATION_SWEEP_MS,
    handshakeTimeoutMs: e.FORMATION_HANDSHAKE_MS,
    maxBuildsPerNode: e.FORMATION_MAX_BUILDS_PER_NODE,
    buildDeadlines: {
      queuedMs: e.FORMATION_BUILD_QUEUED_MS,
      claimedMs: e.FORMATION_BUILD_CLAIMED_MS,
      buildingMs: e.FORMATION_BUILD_TIMEOUT_MS,
    },
    bootTimeoutMs: e.FORMATION_BOOT_TIMEOUT_MS,
    metricsSampleMs: e.FORMATION_METRICS_SAMPLE_MS,
    metricsRetentionMs: e.FORMATION_METRICS_RETENTION_MS,
    historyRetentionMs: e.FORMATION_HISTORY_RETENTION_MS,
    maxContextBytes: e.FORMATION_MAX_CONTEXT_BYTES,
    maxImageBytes: e.FORMATION_MAX_IMAGE_BYTES,
    replicas: { default: e.FORMATION_DEFAULT_REPLICAS, max: e.FORMATION_MAX_REPLICAS },
    policy,
    maxMalformed: e.FORMATION_MAX_MALFORMED,
    peersCoalesceMs: e.FORMATION_PEERS_COALESCE_MS,
    peersCoalesceMaxMs: e.FORMATION_PEERS_COALESCE_MAX_MS,
    peersPageSize: e.FORMATION_PEERS_PAGE_SIZE,
    limits: {
      formnetMaxDevices: e.FORMATION_FORMNET_MAX_DEVICES,
      contextQuotaBytes: e.FORMATION_CONTEXT_QUOTA_BYTES,
      blobGcGraceMs: e.FORMATION_BLOB_GC_GRACE_MS,
      blobGcIntervalMs: e.FORMATION_BLOB_GC_INTERVAL_MS,
      imageKeepBuilds: e.FORMATION_IMAGE_KEEP_BUILDS,
    },
  };
}
