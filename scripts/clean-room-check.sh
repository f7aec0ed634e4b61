#!/bin/sh
# Clean-room check of the host set-up (root): a fresh Debian bookworm minbase chroot that never saw
# the project runs scripts/setup-host.sh, then its --check, then looks for every program the tests
# and the platform spawn. Proves the package list is complete without a second machine.
#   sudo sh scripts/clean-room-check.sh [DIR]     (default /tmp/formation-clean-room, ~5 min)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
R=${1:-/tmp/formation-clean-room}
if grep -q " $R/" /proc/mounts; then
  echo "clean-room: $R still has mounts; unmount them first" >&2
  exit 1
fi
rm -rf "$R"
mmdebstrap --variant=minbase bookworm "$R"
cp "$here/setup-host.sh" "$R/setup-host.sh"
echo "== before set-up"
chroot "$R" sh /setup-host.sh --check || true
for d in proc sys dev; do mount --bind "/$d" "$R/$d"; done
trap 'for d in dev sys proc; do umount -l "$R/$d"; done' EXIT
cp /etc/resolv.conf "$R/etc/resolv.conf"
echo "== set-up"
chroot "$R" sh /setup-host.sh
echo "== after set-up"
chroot "$R" sh /setup-host.sh --check
missing=0
for b in qemu-system-x86_64 qemu-img mmdebstrap wireguard-go wg ip bridge tc iptables iptables-restore \
  socat jq sudo sshd ssh ssh-keygen ssh-keyscan chromium busybox dropbearkey iperf3 ping conntrack mkfs.ext4 resize2fs \
  e2fsck zstd setpriv unshare nsenter modprobe tar pebble pebble-challtestsrv; do
  p=$(chroot "$R" sh -c "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin command -v $b" || true)
  echo "$b -> ${p:-MISSING}"
  [ -n "$p" ] || missing=1
done
ls "$R"/boot/vmlinuz-*-cloud-amd64 >/dev/null || missing=1
[ "$missing" = 0 ] && echo "clean-room: every package and program present"
exit "$missing"
