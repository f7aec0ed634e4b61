import { z } from "zod";
import { ZFormfile } from "../formfile/canonical";
import { ZIpv4, ZWireguardKey } from "../formnet/schemas";
import { ZDigest, ZFormnetPeer, ZId } from "./common";

/**
 * Job payloads and results, typed per job kind. URLs are console-relative paths (resolved against
 * the console URL the agent dialled) or absolute; agent blob endpoints need the `agentToken` from
 * `welcome` as `Authorization: Bearer <token>`.
 */

export const ZBuildPayload = z.object({
  buildId: ZId,
  formfile: ZFormfile,
  contextUrl: z.string().min(1),
  contextDigest: ZDigest,
  contextSizeBytes: z.number().int().min(0),
  /** The console's SSH user CA (OpenSSH public key line): images trust it for the web terminal. */
  sshCaPublicKey: z.string().min(1).max(2048).optional(),
});
export type TBuildPayload = z.infer<typeof ZBuildPayload>;

export const ZBootPayload = z.object({
  instanceId: ZId,
  buildId: ZId,
  imageUrl: z.string().min(1),
  imageDigest: ZDigest,
  vcpu: z.number().int().min(1),
  memoryMb: z.number().int().min(1),
  diskGb: z.number().int().min(1),
  formnetIp: ZIpv4,
  /** Peers of the instance owner's devices, allowed to reach the VM over formnet. */
  ownerPeers: z.array(ZFormnetPeer),
});
export type TBootPayload = z.infer<typeof ZBootPayload>;

/** Fetch an image into the node's store (a likely host of a replacement replica); no VM. */
export const ZPrefetchPayload = z.object({
  imageUrl: z.string().min(1),
  imageDigest: ZDigest,
  /**
   * The shape a replacement replica would have: the node also makes the image's snapshot for it
   * (a heal there restores instead of booting). Optional, no version bump: older agents drop it.
   */
  vm: z
    .object({
      vcpu: z.number().int().min(1),
      memoryMb: z.number().int().min(1),
      diskGb: z.number().int().min(1),
    })
    .optional(),
});
export type TPrefetchPayload = z.infer<typeof ZPrefetchPayload>;

export const ZInstanceActionPayload = z.object({ instanceId: ZId });
export type TInstanceActionPayload = z.infer<typeof ZInstanceActionPayload>;

/**
 * A stop. `suspend` (protocol 7, `SUSPEND_MIN_PROTOCOL`): pause the guest and save its memory and
 * device state beside its disk instead of shutting it down, so a later `start` resumes it.
 */
export const ZStopPayload = ZInstanceActionPayload.extend({ suspend: z.boolean().optional() });
export type TStopPayload = z.infer<typeof ZStopPayload>;

/** `kind` + `payload` of a job, discriminated by kind. */
export const ZJobSpec = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("build"), payload: ZBuildPayload }),
  z.object({ kind: z.literal("boot"), payload: ZBootPayload }),
  z.object({ kind: z.literal("stop"), payload: ZStopPayload }),
  z.object({ kind: z.literal("start"), payload: ZInstanceActionPayload }),
  z.object({ kind: z.literal("restart"), payload: ZInstanceActionPayload }),
  z.object({ kind: z.literal("delete"), payload: ZInstanceActionPayload }),
  z.object({ kind: z.literal("prefetch"), payload: ZPrefetchPayload }),
]);
export type TJobSpec = z.infer<typeof ZJobSpec>;

export const ZBuildResult = z.object({
  kind: z.literal("build"),
  /** The image: a qcow2 layer whose header names its base by digest (or a self-contained image). */
  imageDigest: ZDigest,
  sizeBytes: z.number().int().min(0),
  /** The base the layer is over, uploaded to the console before the layer. */
  baseDigest: ZDigest.optional(),
});
export const ZBootResult = z.object({
  kind: z.literal("boot"),
  formnetIp: ZIpv4,
  /** WireGuard key of the VM's formnet interface, when the VM holds its own key. */
  publicKey: ZWireguardKey.optional(),
});
export const ZInstanceActionResult = z.object({
  kind: z.enum(["start", "restart", "delete"]),
});
export const ZStopResult = z.object({
  kind: z.literal("stop"),
  /** The guest's memory was saved (a `suspend` stop): the instance is `suspended`, not `stopped`. */
  suspended: z.boolean().optional(),
});
export const ZPrefetchResult = z.object({
  kind: z.literal("prefetch"),
  /** The node already held the image: nothing was transferred. */
  fromCache: z.boolean(),
  sizeBytes: z.number().int().min(0),
  /** Bytes this fetch transferred (the layer, plus its base when the node lacked it). */
  fetchedBytes: z.number().int().min(0).optional(),
  /** Of those, bytes from peer nodes rather than the console (protocol 6). */
  peerBytes: z.number().int().min(0).optional(),
  /** The node holds a snapshot of the image for the payload's `vm` shape (made now or before). */
  snapshot: z.boolean().optional(),
});

/** Result carried by `job.complete`, discriminated by the job kind it completes. */
export const ZJobResult = z.union([
  ZBuildResult,
  ZBootResult,
  ZStopResult,
  ZInstanceActionResult,
  ZPrefetchResult,
]);
export type TJobResult = z.infer<typeof ZJobResult>;

/** Phases an agent may report in `job.progress` (free text is allowed, these are the known ones). */
export const JOB_PHASES = [
  "fetching",
  "unpacking",
  "building",
  "uploading",
  "booting",
  "snapshotting",
  "stopping",
  "starting",
  "deleting",
] as const;
