import { join } from "node:path";
import type { TAccelerator } from "../host/preflight";
import { IDENTITY_PORT } from "./identity-hook";
import type { TVmState } from "./types";

/** Marker in QEMU's `-name` so a process can be matched back to its VM (adopt, orphan scan). */
export function qemuName(instanceId: string): string {
  return `formation-${instanceId}`;
}

/** The guest's hostname: the spec's, else one made of the instance id. */
export function vmHostname(spec: Pick<TVmState["spec"], "hostname" | "instanceId">): string {
  return (
    spec.hostname ??
    spec.instanceId
      .toLowerCase()
      .replace(/[^a-z0-9-]/g, "-")
      .slice(0, 63)
  );
}

/**
 * Kernel command line. Per-VM settings travel here so one image serves every replica: the guest's
 * formation-guest-net unit reads `formation.ip`/`formation.gw`; systemd reads `systemd.hostname`.
 * `net.ifnames=0` keeps the NIC named eth0.
 */
export function kernelCmdline(state: TVmState, accelerator: TAccelerator = "kvm"): string {
  const { spec } = state;
  return [
    // Under TCG the guest's code is emulated, never speculatively executed on the host CPU, so
    // the Spectre/Meltdown mitigations only cost boot and syscall time.
    ...(accelerator === "tcg" ? ["mitigations=off"] : []),
    "root=/dev/vda",
    "rw",
    "console=ttyS0",
    "quiet",
    "net.ifnames=0",
    // The base installs no AppArmor profiles or parser; with the LSM on, Debian's docker.io (the
    // original README's "Option 2") refuses to start containers for want of apparmor_parser.
    "apparmor=0",
    "panic=-1",
    `systemd.hostname=${vmHostname(spec)}`,
    `formation.ip=${spec.ipv4}`,
    `formation.gw=${spec.network.gatewayIp}`,
  ].join(" ");
}

/**
 * How a VM's QEMU is confined once it has opened its files, tap and sockets (as root): it becomes
 * `user` (no capabilities, no_new_privs), chroots into the empty `chrootDir`, and runs under QEMU's
 * seccomp filter. `elevateprivileges` and `spawn` stay allowed because `-daemonize` forks and
 * `-runas` calls setuid after the filter is loaded (tried: `deny` kills QEMU at start with SIGSYS);
 * without capabilities and with an empty root neither gains anything. See docs/node-agent-vm.md.
 */
export type TQemuConfinement = { user: string; chrootDir: string };

export const QEMU_SANDBOX = "on,obsolete=deny,elevateprivileges=allow,spawn=allow,resourcecontrol=deny";

/** Where a VM's files live in its directory (instances and snapshot templates alike). */
export function vmFiles(dir: string) {
  return {
    dir,
    overlayPath: join(dir, "disk.qcow2"),
    serialLogPath: join(dir, "serial.log"),
    qmpPath: join(dir, "qmp.sock"),
    pidfilePath: join(dir, "qemu.pid"),
    hostKeyPath: join(dir, "ssh_host_ed25519_key"),
  };
}

/** Base path of a VM's identity channel FIFOs (`.in`, `.out`; see guest-channel.ts). */
export function channelBase(state: Pick<TVmState, "dir">): string {
  return `${state.dir}/identity`;
}

/**
 * argv for one VM: q35, direct kernel boot, virtio disk (overlay) and NIC (tap), the identity
 * channel (virtio-serial), QMP, serial file. Every VM has the same devices, so any VM's saved state
 * loads into any other QEMU of the same shape (snapshot restores, resumes).
 */
export function qemuArgv(opts: {
  state: TVmState;
  accelerator: TAccelerator;
  kernelPath: string;
  initrdPath: string;
  qemuBinary?: string;
  confinement?: TQemuConfinement;
  /**
   * `tap` (default): the VM's tap on the agent's bridge. `none`: a NIC wired to nothing (a hub
   * port alone), for the template VM a snapshot is taken of.
   */
  nic?: "tap" | "none";
  /** Load saved state from fd 3 and stay paused (`-S`) until the agent says `cont`. */
  incoming?: boolean;
}): string[] {
  const { state, accelerator } = opts;
  const { spec } = state;
  const argv = [
    opts.qemuBinary ?? "qemu-system-x86_64",
    "-name",
    qemuName(spec.instanceId),
    "-machine",
    `q35,accel=${accelerator}`,
    ...(accelerator === "kvm" ? ["-cpu", "host"] : []),
    "-smp",
    String(spec.vcpu),
    "-m",
    String(spec.memoryMb),
    "-nodefaults",
    "-no-user-config",
    "-kernel",
    opts.kernelPath,
    "-initrd",
    opts.initrdPath,
    "-append",
    kernelCmdline(state, accelerator),
    "-drive",
    // auto-read-only=off: QEMU would reopen the disk read-only by path when a migration (snapshot,
    // suspend) stops writing to it, and read-write when one loads, and the chrooted QEMU sees no path.
    `file=${state.overlayPath},if=virtio,format=qcow2,discard=unmap,auto-read-only=off`,
    "-netdev",
    opts.nic === "none"
      ? "hubport,id=net0,hubid=0"
      : `tap,id=net0,ifname=${state.tap},script=no,downscript=no`,
    "-device",
    `virtio-net-pci,netdev=net0,mac=${state.mac}`,
    "-device",
    "virtio-rng-pci",
    "-device",
    "virtio-serial-pci,id=vser0",
    "-chardev",
    `pipe,id=ident0,path=${channelBase(state).replaceAll(",", ",,")}`,
    "-device",
    `virtserialport,bus=vser0.0,chardev=ident0,name=${IDENTITY_PORT}`,
    "-chardev",
    `file,id=serial0,path=${state.serialLogPath},append=on`,
    "-serial",
    "chardev:serial0",
    "-qmp",
    `unix:${state.qmpPath},server=on,wait=off`,
    "-pidfile",
    state.pidfilePath,
    "-display",
    "none",
    "-daemonize",
  ];
  if (opts.incoming) argv.push("-incoming", "fd:3", "-S");
  if (opts.confinement) {
    argv.push("-runas", opts.confinement.user, "-chroot", opts.confinement.chrootDir);
    argv.push("-sandbox", QEMU_SANDBOX);
  }
  // QEMU's option parser treats a comma as a separator unless doubled.
  const esc = (p: string) => p.replaceAll(",", ",,");
  argv.push("-fw_cfg", `name=opt/formation/ssh_host_ed25519_key,file=${esc(state.hostKeyPath)}`);
  argv.push("-fw_cfg", `name=opt/formation/ssh_host_ed25519_key.pub,file=${esc(state.hostKeyPath)}.pub`);
  if (spec.rootAuthorizedKeys.length > 0) {
    // systemd's tmpfiles provision.conf installs this credential as /root/.ssh/authorized_keys.
    // SMBIOS values cannot hold a comma unescaped: QEMU's option parser doubles it.
    const keys = spec.rootAuthorizedKeys.join("\n").replaceAll(",", ",,");
    argv.push("-smbios", `type=11,value=io.systemd.credential:ssh.authorized_keys.root=${keys}`);
  }
  return argv;
}

/** Stable locally administered MAC from the instance id. */
export function macFor(hashHex: string): string {
  const b = hashHex.slice(0, 6).match(/../g) ?? ["00", "00", "00"];
  return `52:54:00:${b.join(":")}`;
}
