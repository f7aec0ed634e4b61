import { z } from "zod";
import { ZEndpoint, ZIpv4, ZWireguardKey } from "../formnet/schemas";

/** Lower-case or checksummed 0x-prefixed 20-byte hex address. */
export const ZAddress = z.string().regex(/^0x[0-9a-fA-F]{40}$/);

/** Content digest of a blob (context tarball, disk image): `sha256:` + 64 lower-case hex digits. */
export const ZDigest = z.string().regex(/^sha256:[0-9a-f]{64}$/);
export type TDigest = z.infer<typeof ZDigest>;

/** Opaque identifier of a job, node, build or instance (ids are hex or uuid-like, never paths). */
export const ZId = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9_.:-]+$/);

export const ZAccel = z.enum(["kvm", "tcg"]);

/**
 * Lifecycle of a VM instance as reported by its agent and shown to users. `suspended` (protocol 7):
 * stopped with the guest's memory and device state saved on its node, so a start resumes it.
 */
export const ZInstanceStatus = z.enum([
  "pending",
  "booting",
  "running",
  "stopping",
  "stopped",
  "suspended",
  "failed",
  "deleted",
]);
export type TInstanceStatus = z.infer<typeof ZInstanceStatus>;

export const ZJobKind = z.enum(["build", "boot", "stop", "start", "restart", "delete", "prefetch"]);
export type TJobKind = z.infer<typeof ZJobKind>;

/** Resource usage sample of a node or instance. Network figures are bytes per second. */
export const ZMetrics = z.object({
  cpuPct: z.number().min(0).max(100_000),
  memUsedMb: z.number().min(0),
  diskUsedGb: z.number().min(0),
  netRx: z.number().min(0),
  netTx: z.number().min(0),
});
export type TMetrics = z.infer<typeof ZMetrics>;

/** Kinds of formnet members; `console` (a console host on formnet) since protocol 3. */
export const ZFormnetPeerKind = z.enum(["node", "instance", "user", "console"]);
export type TFormnetPeerKind = z.infer<typeof ZFormnetPeerKind>;

/**
 * A formnet (WireGuard mesh) peer as pushed to agents. `endpoints` are ordered by preference
 * (operator-configured first, then the address the console observed the node's connection from).
 */
export const ZFormnetPeer = z.object({
  publicKey: ZWireguardKey,
  ip: ZIpv4,
  endpoints: z.array(ZEndpoint).max(16),
  kind: ZFormnetPeerKind,
  /** Node id for node peers, instance id for instance peers, `<owner>:<key>` for user devices, console id. */
  ref: z.string().max(128),
});
export type TFormnetPeer = z.infer<typeof ZFormnetPeer>;
