import { describe, expect, it } from "vitest";
import { resolveModuleOrder } from "./initrd";
import { kernelCmdline, qemuArgv } from "./qemu-args";
import { type TVmState, ZVmSpec } from "./types";

const state: TVmState = {
  spec: ZVmSpec.parse({
    instanceId: "inst-1",
    imagePath: "/img.qcow2",
    vcpu: 2,
    memoryMb: 1024,
    diskGb: 5,
    ipv4: "10.42.0.7",
    network: { bridge: "fmbr-abc", gatewayIp: "169.254.42.1" },
    rootAuthorizedKeys: ["ssh-ed25519 AAAA a,b"],
  }),
  status: "created",
  pid: null,
  tap: "fmt0123456789ab",
  mac: "52:54:00:01:02:03",
  dir: "/d",
  overlayPath: "/d/disk.qcow2",
  serialLogPath: "/d/serial.log",
  qmpPath: "/d/qmp.sock",
  pidfilePath: "/d/qemu.pid",
  hostKeyPath: "/d/hostkey",
  hostKeyPublic: "ssh-ed25519 AAAA",
  startedAt: null,
  restarts: [],
};

describe("qemu argv", () => {
  it("gives every VM the identity channel and the same devices; a template's NIC is wired to nothing", () => {
    const joined = qemuArgv({ state, accelerator: "tcg", kernelPath: "k", initrdPath: "i" }).join(" ");
    expect(joined).toContain("-device virtio-serial-pci,id=vser0");
    expect(joined).toContain("-chardev pipe,id=ident0,path=/d/identity");
    expect(joined).toContain("virtserialport,bus=vser0.0,chardev=ident0,name=org.formation.identity");
    expect(joined).toContain("auto-read-only=off");
    expect(joined).not.toContain("-incoming");
    const template = qemuArgv({ state, accelerator: "tcg", kernelPath: "k", initrdPath: "i", nic: "none" });
    expect(template.join(" ")).toContain("-netdev hubport,id=net0,hubid=0");
    expect(template.join(" ")).not.toContain("tap,");
    const restore = qemuArgv({ state, accelerator: "tcg", kernelPath: "k", initrdPath: "i", incoming: true });
    expect(restore.join(" ")).toContain("-incoming fd:3 -S");
  });

  it("uses q35, direct kernel boot, virtio disk/net, QMP, daemonize with -display none", () => {
    const argv = qemuArgv({ state, accelerator: "tcg", kernelPath: "/boot/vmlinuz", initrdPath: "/i.img" });
    const joined = argv.join(" ");
    expect(joined).toContain("-machine q35,accel=tcg");
    expect(argv).not.toContain("-cpu");
    expect(joined).toContain("-smp 2 -m 1024");
    expect(joined).toContain("file=/d/disk.qcow2,if=virtio,format=qcow2");
    expect(joined).toContain("tap,id=net0,ifname=fmt0123456789ab,script=no,downscript=no");
    expect(joined).toContain("-qmp unix:/d/qmp.sock,server=on,wait=off");
    expect(joined).toContain("-display none -daemonize");
    expect(joined).toContain("ssh.authorized_keys.root=ssh-ed25519 AAAA a,,b");
    expect(joined).toContain("-fw_cfg name=opt/formation/ssh_host_ed25519_key,file=/d/hostkey");
    expect(qemuArgv({ state, accelerator: "kvm", kernelPath: "k", initrdPath: "i" }).join(" ")).toContain(
      "-cpu host",
    );
    expect(joined).not.toContain("-runas");
  });

  it("confines QEMU: unprivileged user, empty chroot, seccomp with the deny options", () => {
    const argv = qemuArgv({
      state,
      accelerator: "tcg",
      kernelPath: "k",
      initrdPath: "i",
      confinement: { user: "formation-vm", chrootDir: "/var/cache/formation/qemu-root" },
    });
    const joined = argv.join(" ");
    expect(joined).toContain("-runas formation-vm -chroot /var/cache/formation/qemu-root");
    expect(joined).toMatch(/-sandbox on,obsolete=deny,.*resourcecontrol=deny/);
  });

  it("passes per-VM network and hostname on the kernel command line", () => {
    const cmd = kernelCmdline(state);
    expect(cmd).toContain("formation.ip=10.42.0.7");
    expect(cmd).toContain("formation.gw=169.254.42.1");
    expect(cmd).toContain("systemd.hostname=inst-1");
    expect(cmd).toContain("net.ifnames=0");
  });

  it("orders modules after their dependencies (virtio_ring before virtio)", () => {
    const dep = [
      "kernel/drivers/virtio/virtio.ko: kernel/drivers/virtio/virtio_ring.ko",
      "kernel/drivers/virtio/virtio_ring.ko:",
      "kernel/drivers/virtio/virtio_pci.ko: kernel/drivers/virtio/virtio_pci_modern_dev.ko kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko",
      "kernel/drivers/virtio/virtio_pci_modern_dev.ko:",
      "kernel/drivers/block/virtio_blk.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko",
    ].join("\n");
    const order = resolveModuleOrder(dep, ["virtio_pci", "virtio_blk", "not_a_module"]).map((p) =>
      p.split("/").pop(),
    );
    expect(order).toEqual([
      "virtio_ring.ko",
      "virtio.ko",
      "virtio_pci_modern_dev.ko",
      "virtio_pci.ko",
      "virtio_blk.ko",
    ]);
  });
});
