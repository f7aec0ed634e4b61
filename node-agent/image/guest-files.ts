/**
 * Files the base image carries so that one image serves every replica: per-VM settings (address,
 * gateway, hostname, keys) arrive at boot on the kernel command line or as systemd credentials, never
 * baked into the image.
 */

/** Reads `formation.ip=` / `formation.gw=` from the kernel command line and configures eth0. */
export const GUEST_NET_SCRIPT = `#!/bin/sh
# Formation guest network: a static /32 on eth0 with an on-link route to the host's bridge gateway.
# The host routes this address (it is the formnet peer), so no DHCP and no networkd are needed.
set -eu
ip=""
gw=""
for arg in $(cat /proc/cmdline); do
  case "$arg" in
    formation.ip=*) ip="\${arg#formation.ip=}" ;;
    formation.gw=*) gw="\${arg#formation.gw=}" ;;
  esac
done
ip link set lo up
[ -n "$ip" ] && [ -n "$gw" ] || exit 0
ip link set eth0 up
ip addr replace "$ip/32" dev eth0
ip route replace "$gw/32" dev eth0 scope link
ip route replace default via "$gw" dev eth0 onlink
`;

export const GUEST_NET_UNIT = `[Unit]
Description=Formation guest network (static address from the kernel command line)
DefaultDependencies=no
After=local-fs.target
Before=network-pre.target network.target ssh.service
Wants=network-pre.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/local/sbin/formation-guest-net

[Install]
WantedBy=sysinit.target
`;

/**
 * Host keys are per VM: the base image ships none and each VM makes an ed25519 key on first boot
 * (RSA generation is slow under TCG and adds nothing for modern clients).
 */
export const HOSTKEYS_UNIT = `[Unit]
Description=Formation SSH host key (per VM)
Before=ssh.service
ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key

[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -q -t ed25519 -N "" -f /etc/ssh/ssh_host_ed25519_key

[Install]
WantedBy=multi-user.target
`;

export const SSHD_BASE_CONF = `# Formation: one ed25519 host key generated per VM at first boot.
HostKey /etc/ssh/ssh_host_ed25519_key
UseDNS no
`;

/**
 * Units that cost boot time under TCG and do nothing useful in a single-purpose VM (no kernel
 * modules in the rootfs, no VGA console, no periodic apt/scrub jobs).
 */
export const MASKED_UNITS = [
  "apt-daily.timer",
  "apt-daily-upgrade.timer",
  "dpkg-db-backup.timer",
  "e2scrub_all.timer",
  "e2scrub_reap.service",
  "fstrim.timer",
  "getty@tty1.service",
  "systemd-pstore.service",
  "systemd-modules-load.service",
  "kmod-static-nodes.service",
  "modprobe@.service",
  "systemd-firstboot.service",
  "systemd-binfmt.service",
  "proc-sys-fs-binfmt_misc.automount",
  "sys-kernel-debug.mount",
  "sys-kernel-tracing.mount",
  "sys-kernel-config.mount",
  "sys-fs-fuse-connections.mount",
  "dev-hugepages.mount",
  "remote-fs.target",
  "systemd-hwdb-update.service",
  "ldconfig.service",
];

export const FSTAB = "/dev/vda / ext4 rw,noatime 0 0\n";

/** Makes maintainer scripts in the build chroot never start services. */
export const POLICY_RC_D = "#!/bin/sh\nexit 101\n";
