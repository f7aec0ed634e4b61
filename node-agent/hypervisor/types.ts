import { z } from "zod";
import { FormationError } from "@/lib/errors";

const IPV4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;

/** The host side of a VM's network: the agent's bridge and the link-local gateway address on it. */
export const ZVmNetwork = z.object({
  /** Linux bridge of this agent (≤ 15 chars, unique per agent on a host), e.g. `fmbr-1a2b3c4d5e`. */
  bridge: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$/),
  /** Address the bridge carries as /32 and the guest's default gateway (on-link). */
  gatewayIp: z.string().regex(IPV4),
});
export type TVmNetwork = z.infer<typeof ZVmNetwork>;

/** What the agent asks the hypervisor to run. */
export const ZVmSpec = z.object({
  instanceId: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/),
  /** Built image (qcow2); each VM gets its own copy-on-write overlay on it. */
  imagePath: z.string().min(1),
  vcpu: z.number().int().min(1).max(128),
  memoryMb: z.number().int().min(128).max(256_000),
  /** Virtual size of the VM's disk (≥ the image's). */
  diskGb: z.number().int().min(1).max(65_535),
  /** The VM's own static address (its formnet IP); the host routes it as a /32 onto the bridge. */
  ipv4: z.string().regex(IPV4),
  network: ZVmNetwork,
  hostname: z
    .string()
    .regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/)
    .optional(),
  /** Extra keys for root, passed at boot as the systemd credential `ssh.authorized_keys.root`. */
  rootAuthorizedKeys: z.array(z.string()).default([]),
  /** `always`: restart when QEMU exits without the agent asking (crash, guest poweroff). */
  restartPolicy: z.enum(["always", "never"]).default("always"),
});
export type TVmSpec = z.infer<typeof ZVmSpec>;
export type TVmSpecInput = z.input<typeof ZVmSpec>;

/** `suspended`: QEMU is gone but the guest's memory and devices are saved beside its disk (stop --suspend). */
export type TVmStatus = "created" | "running" | "stopped" | "suspended" | "crashed";

/** Persisted per VM under `<dataDir>/vms/<instanceId>/state.json`. */
export const ZVmState = z.object({
  spec: ZVmSpec,
  status: z.enum(["created", "running", "stopped", "suspended", "crashed"]),
  pid: z.number().int().nullable(),
  tap: z.string(),
  mac: z.string(),
  dir: z.string(),
  overlayPath: z.string(),
  serialLogPath: z.string(),
  qmpPath: z.string(),
  pidfilePath: z.string(),
  /** Per-VM SSH host key made on the host at create(), handed to the guest through fw_cfg. */
  hostKeyPath: z.string(),
  hostKeyPublic: z.string(),
  startedAt: z.string().nullable(),
  restarts: z.array(z.string()).default([]),
});
export type TVmState = z.infer<typeof ZVmState>;

export type TVmInfo = {
  instanceId: string;
  status: TVmStatus;
  /** Its QEMU exited unexpectedly and the hypervisor is starting it again (restart policy). */
  restarting?: boolean;
  pid: number | null;
  ipv4: string;
  tap: string;
  /** Serial console output (kernel and systemd boot log, getty) for the user to read. */
  serialLogPath: string;
  startedAt: string | null;
  /** The VM's SSH host public key (`ssh-ed25519 …`), for known_hosts pinning by the console. */
  sshHostKey: string;
  /**
   * The image the VM's overlay is backed by: the image GC never deletes it while the VM exists.
   * QemuHypervisor always reports it; only in-memory test doubles leave it out.
   */
  imagePath?: string;
};

export type TVmMetrics = {
  instanceId: string;
  at: string;
  running: boolean;
  /** QEMU process user+system CPU time. */
  cpuSeconds: number;
  rssBytes: number;
  /** Bytes allocated by the VM's overlay (its writes since the image). */
  diskBytes: number;
  /** Tap counters, seen from the host: rx = sent by the VM, tx = received by the VM. */
  netRxBytes: number;
  netTxBytes: number;
};

export type TVmEvent =
  | { type: "started"; instanceId: string; pid: number }
  | { type: "stopped"; instanceId: string }
  /** Its memory and devices were saved beside its disk and its QEMU ended (stop --suspend). */
  | { type: "suspended"; instanceId: string }
  /** `reason`: why it stays down when it does (the restart itself failed). */
  | { type: "crashed"; instanceId: string; restarting: boolean; reason?: string }
  | { type: "restarted"; instanceId: string; pid: number }
  | { type: "adopted"; instanceId: string; pid: number };

/** A VM backend. One real implementation (QemuHypervisor); the daemon depends only on this. */
export interface Hypervisor {
  create(spec: TVmSpecInput): Promise<TVmInfo>;
  start(instanceId: string): Promise<TVmInfo>;
  /**
   * ACPI shutdown, then a hard kill after `timeoutMs`. With `suspend`, the guest is paused and its
   * memory and device state saved beside its disk instead (status `suspended`); the next `start`
   * resumes it with its processes intact.
   */
  stop(instanceId: string, opts?: { timeoutMs?: number; suspend?: boolean }): Promise<TVmInfo>;
  restart(instanceId: string): Promise<TVmInfo>;
  /** Stops if needed and frees overlay, tap, route and state. */
  delete(instanceId: string): Promise<void>;
  list(): Promise<TVmInfo[]>;
  get(instanceId: string): Promise<TVmInfo | null>;
  /** After an agent restart: re-attach to VMs still running, clean up dead ones and orphans. */
  adopt(): Promise<{ adopted: string[]; cleaned: string[] }>;
  metrics(instanceId: string): Promise<TVmMetrics>;
  /**
   * Makes (unless held) the snapshot new VMs of this image and shape would restore from; null when
   * this hypervisor does not launch from snapshots.
   */
  prepareSnapshot?(shape: {
    imagePath: string;
    vcpu: number;
    memoryMb: number;
    diskGb: number;
    network: TVmNetwork;
  }): Promise<{ key: string } | null>;
  /** Drops what was derived from images no longer in the store (their snapshots); what it removed. */
  forgetMissingImages?(): Promise<string[]>;
  /** Stops watching (VMs keep running). */
  close(): void;
}

export type TVmErrorCode = "NOT_FOUND" | "EXISTS" | "BAD_SPEC" | "START_FAILED" | "BAD_STATE";

export class VmError extends FormationError<TVmErrorCode> {
  override readonly name = "VmError";
  constructor(code: TVmErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(code, message, options);
  }
}
