import type { TAccelerator } from "../host/preflight";
import type { TVmState } from "./types";

/** Marker in QEMU's `-name` so a process can be matched back to its VM (adopt, orphan scan). */
export function qemuName(instanceId: string): string {
  return `formation-${instanceId}`;
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
    `systemd.hostname=${
      spec.hostname ??
      spec.instanceId
        .toLowerCase()
        .replace(/[^a-z0-9-]/g, "-")
        .slice(0, 63)
    }`,
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

/** argv for one VM: q35, direct kernel boot, virtio disk (overlay) and NIC (tap), QMP, serial file. */
export function qemuArgv(opts: {
  state: TVmState;
  accelerator: TAccelerator;
  kernelPath: string;
  initrdPath: string;
  qemuBinary?: string;
  confinement?: TQemuConfinement;
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
    `file=${state.overlayPath},if=virtio,format=qcow2,discard=unmap`,
    "-netdev",
    `tap,id=net0,ifname=${state.tap},script=no,downscript=no`,
    "-device",
    `virtio-net-pci,netdev=net0,mac=${state.mac}`,
    "-device",
    "virtio-rng-pci",
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
