import { z } from "zod";
import { ZEndpoint, ZIpv4, ZIpv4Cidr, ZWireguardKey } from "../formnet/schemas";
import { ZAccel, ZAddress, ZFormnetPeer, ZId, ZInstanceStatus, ZMetrics } from "./common";
import { ZJobResult, ZJobSpec } from "./jobs";
import { ZSerialReply, ZSerialRequest } from "./serial";

// ---------------------------------------------------------------------------------------------
// console → agent
// ---------------------------------------------------------------------------------------------

/** First frame on every connection. The agent signs `buildAgentChallenge(nonce, origin)`. */
export const ZChallenge = z.object({
  type: z.literal("challenge"),
  nonce: z.string().min(16).max(128),
  origin: z.string().min(1).max(300),
  protocolVersion: z.number().int().min(1),
  minProtocolVersion: z.number().int().min(1),
});

export const ZWelcome = z.object({
  type: z.literal("welcome"),
  nodeId: ZId,
  heartbeatIntervalMs: z.number().int().min(100),
  leaseMs: z.number().int().min(100),
  /** Bearer token for the agent blob endpoints; valid while this connection lives. */
  agentToken: z.string().min(16).max(256),
  formnet: z.object({ address: ZIpv4, cidr: ZIpv4Cidr }),
});

export const ZRejectReason = z.enum(["agentTooOld", "consoleTooOld", "forbidden", "malformed"]);
export type TRejectReason = z.infer<typeof ZRejectReason>;

/** Sent instead of `welcome`; the console closes the socket right after. */
export const ZReject = z.object({
  type: z.literal("reject"),
  reason: ZRejectReason,
  message: z.string().max(2000),
});

export const ZJobOffer = z.intersection(
  z.object({
    type: z.literal("job.offer"),
    jobId: ZId,
    leaseMs: z.number().int().min(100),
  }),
  ZJobSpec,
);

export const ZJobCancel = z.object({
  type: z.literal("job.cancel"),
  jobId: ZId,
  reason: z.string().max(500),
});

/**
 * formnet peers. `full` (the default when absent) replaces the agent's peer set; `full: false` is a
 * delta adding or updating the listed peers (sent only to agents announcing the
 * `formnet.peers.delta` capability, so a join storm does not push the whole mesh to every agent).
 * Removals always come as a full list.
 */
export const ZFormnetPeers = z.object({
  type: z.literal("formnet.peers"),
  peers: z.array(ZFormnetPeer),
  full: z.boolean().optional(),
});

export const ZErrorCode = z.enum(["malformed", "unexpected", "notYours", "unknownJob", "rateLimited"]);

/** Answer to a frame the console could not accept; repeated abuse closes the connection. */
export const ZErrorFrame = z.object({
  type: z.literal("error"),
  code: ZErrorCode,
  message: z.string().max(2000),
  /** `type` of the offending frame when it could be read. */
  inReplyTo: z.string().max(64).optional(),
});

/** Every frame the console sends. */
export const ZConsoleToAgent = z.union([
  ZChallenge,
  ZWelcome,
  ZReject,
  ZJobOffer,
  ZJobCancel,
  ZFormnetPeers,
  ZErrorFrame,
  /** Only to agents speaking protocol ≥ `SERIAL_LOG_MIN_PROTOCOL`. */
  ZSerialRequest,
]);
export type TConsoleToAgent = z.infer<typeof ZConsoleToAgent>;

// ---------------------------------------------------------------------------------------------
// agent → console
// ---------------------------------------------------------------------------------------------

export const ZNodeInfo = z.object({
  region: z.string().min(1).max(64),
  capacity: z.object({
    vcpu: z.number().int().min(1),
    memoryMb: z.number().int().min(1),
    diskGb: z.number().int().min(1),
  }),
  accel: ZAccel,
  /**
   * Build and boot jobs the agent runs at once (it declines more). The console's scheduler offers
   * no more than that; absent (agents before 2026-12): unknown, the console relies on declines.
   */
  jobSlots: z.number().int().min(1).max(64).optional(),
  formnet: z.object({
    publicKey: ZWireguardKey,
    listenPort: z.number().int().min(1).max(65535),
    endpoints: z.array(ZEndpoint).max(16),
  }),
});
export type TNodeInfo = z.infer<typeof ZNodeInfo>;

export const ZHello = z.object({
  type: z.literal("hello"),
  protocolVersion: z.number().int().min(1),
  agentVersion: z.string().min(1).max(64),
  operator: ZAddress,
  /** personal_sign (EIP-191) by `operator` of `buildAgentChallenge(nonce, origin)`. */
  signature: z.string().regex(/^0x[0-9a-fA-F]+$/),
  node: ZNodeInfo,
  /** Instances this host still runs, so the console can re-adopt them after a reconnect. */
  instances: z.array(z.object({ instanceId: ZId, status: ZInstanceStatus })).max(10_000),
  /**
   * Optional protocol features the agent understands (absent = none). Known:
   * `formnet.peers.delta` — the console may send `formnet.peers` with `full: false` (see
   * `applyPeerUpdate`); without it every push is a full list.
   */
  capabilities: z.array(z.string().max(64)).max(32).optional(),
  /** Jobs the agent still holds (running) or finished while disconnected (it re-sends results). */
  jobs: z.array(z.object({ jobId: ZId, state: z.enum(["running", "completed", "failed"]) })).max(10_000),
});
export type THello = z.infer<typeof ZHello>;

export const ZHeartbeat = z.object({
  type: z.literal("heartbeat"),
  seq: z.number().int().min(0),
  metrics: ZMetrics,
  instances: z
    .array(z.object({ instanceId: ZId, status: ZInstanceStatus, metrics: ZMetrics.optional() }))
    .max(10_000),
  /** Ids of jobs the agent is working on; their leases are extended. */
  jobs: z.array(ZId).max(10_000).optional(),
});

export const ZJobAck = z.object({ type: z.literal("job.ack"), jobId: ZId });

/** The agent will not take the offered job (e.g. not enough free capacity); it is re-queued. */
export const ZJobDecline = z.object({
  type: z.literal("job.decline"),
  jobId: ZId,
  reason: z.string().max(500),
});

export const ZJobProgress = z.object({
  type: z.literal("job.progress"),
  jobId: ZId,
  phase: z.string().min(1).max(64),
  message: z.string().max(2000).optional(),
});

export const ZJobLog = z.object({
  type: z.literal("job.log"),
  jobId: ZId,
  lines: z.array(z.string().max(8192)).min(1).max(1000),
});

export const ZJobComplete = z.object({ type: z.literal("job.complete"), jobId: ZId, result: ZJobResult });

export const ZJobFail = z.object({
  type: z.literal("job.fail"),
  jobId: ZId,
  reason: z.string().min(1).max(4000),
  /** Formfile line the failure belongs to (build jobs). */
  line: z.number().int().min(1).optional(),
  /**
   * The agent stopped before the job finished (its process restarted or shut down mid-job): not
   * the job's own failure. The console offers the job again while it has attempts left.
   */
  interrupted: z.literal(true).optional(),
});

export const ZInstanceStatusReport = z.object({
  type: z.literal("instance.status"),
  instanceId: ZId,
  status: ZInstanceStatus,
  formnetIp: ZIpv4.optional(),
  reason: z.string().max(2000).optional(),
});

/** Every frame the agent sends. */
export const ZAgentToConsole = z.discriminatedUnion("type", [
  ZHello,
  ZHeartbeat,
  ZJobAck,
  ZJobDecline,
  ZJobProgress,
  ZJobLog,
  ZJobComplete,
  ZJobFail,
  ZInstanceStatusReport,
  ZSerialReply,
]);
export type TAgentToConsole = z.infer<typeof ZAgentToConsole>;

/** Narrow a message union to the member with the given `type`. */
export type TMessageOf<U extends { type: string }, T extends U["type"]> = Extract<U, { type: T }>;

/** Capability an agent lists in `hello.capabilities` to receive `formnet.peers` deltas. */
export const CAPABILITY_PEER_DELTAS = "formnet.peers.delta";

/** The agent's peer set after a `formnet.peers` push: replaced by a full list, merged by `ref` for a delta. */
export function applyPeerUpdate(
  current: readonly z.infer<typeof ZFormnetPeer>[],
  update: Pick<z.infer<typeof ZFormnetPeers>, "peers" | "full">,
): z.infer<typeof ZFormnetPeer>[] {
  if (update.full !== false) return [...update.peers];
  const byRef = new Map(current.map((p) => [`${p.kind}:${p.ref}`, p]));
  for (const p of update.peers) byRef.set(`${p.kind}:${p.ref}`, p);
  return [...byRef.values()];
}
