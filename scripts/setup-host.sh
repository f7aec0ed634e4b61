#!/bin/sh
# Formation host setup: installs the Debian/Ubuntu packages the platform needs (QEMU, image builder,
# guest kernel, WireGuard, test tooling). Idempotent and fast when everything is present, because
# scripts/start.mjs and scripts/test.mjs run it every time: one dpkg-query, no apt-get unless a
# package is missing. Not root: prints the exact command to run instead.
#
# Usage: scripts/setup-host.sh [--check]   (--check: only report, exit 1 when something is missing)
set -eu

PACKAGES="qemu-system-x86 qemu-utils mmdebstrap debootstrap linux-image-cloud-amd64 busybox-static \
dropbear-bin wireguard-go wireguard-tools dnsmasq-base openssh-client openssh-server iproute2 iputils-ping iperf3 chromium kmod \
e2fsprogs zstd iptables conntrack socat jq sudo pebble"

if ! command -v dpkg-query >/dev/null 2>&1; then
  echo "setup-host: this script supports Debian/Ubuntu hosts (dpkg/apt). Install by hand: $PACKAGES" >&2
  exit 1
fi

# One dpkg-query for all packages; a package that was never known prints nothing or an error line,
# so compare the installed set against the wanted set instead of trusting the exit status.
# shellcheck disable=SC2086
installed=$(dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' $PACKAGES 2>/dev/null | awk '$2 == "ii" { print $1 }')
missing=""
for p in $PACKAGES; do
  case " $(echo "$installed" | tr '\n' ' ') " in
    *" $p "*) ;;
    *) missing="$missing $p" ;;
  esac
done
missing=$(echo "$missing" | sed 's/^ *//')

if [ -z "$missing" ]; then
  echo "setup-host: all packages present"
  exit 0
fi

cmd="apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing"
if [ "${1:-}" = "--check" ]; then
  echo "setup-host: missing packages: $missing" >&2
  echo "setup-host: run as root: $cmd" >&2
  exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "setup-host: missing packages: $missing" >&2
  echo "setup-host: run as root: sudo sh -c '$cmd'" >&2
  exit 1
fi

echo "setup-host: installing:$missing"
apt-get update
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing
echo "setup-host: done"
