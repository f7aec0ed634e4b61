/**
 * The guest side of a VM's identity channel: a virtio-serial port named `org.formation.identity`
 * (host side: two FIFOs, see guest-channel.ts). The guest initrd installs this hook as a runtime
 * unit of every VM (under /run, so no image carries or changes it). It says `ready` once the boot
 * has finished, then applies each message the host sends:
 *
 * - after a restore from an image's snapshot: the new VM's address, gateway, MAC, hostname, SSH host
 *   key, machine-id, root keys, a fresh random seed (mixed in, then the kernel's CRNG is reseeded:
 *   the guest kernel has no vmgenid driver) and the wall clock;
 * - after a resume from `stop --suspend`: only the wall clock.
 *
 * A message is `key=value` lines and `end`; the hook answers `ok machine-id=<id> reseeded=<yes|no>`.
 * Values are plain tokens or base64 (keys, seed): nothing from the host is evaluated as shell.
 */

/** Name of the virtio-serial port in the guest (`/sys/class/virtio-ports/*\/name`). */
export const IDENTITY_PORT = "org.formation.identity";

/** Fields of one identity message; every field is optional (a resume sends only `now`). */
export type TIdentity = {
  /** Wall clock, seconds since the epoch. */
  now?: number;
  ip?: string;
  gw?: string;
  mac?: string;
  hostname?: string;
  /** 32 lower-case hex digits, systemd's machine-id format. */
  machineId?: string;
  /** Random bytes mixed into the guest's pool before its CRNG is reseeded. */
  seed?: Buffer;
  hostKey?: { privateKey: string; publicKey: string };
  rootAuthorizedKeys?: string[];
};

const TOKEN = /^[A-Za-z0-9:._-]{1,253}$/;
const b64 = (s: string | Buffer) => Buffer.from(s).toString("base64");

/** The wire form of one message: `key=value` lines, then `end`. Throws on a value that is not a token. */
export function identityMessage(identity: TIdentity): string {
  const lines: string[] = [];
  const token = (key: string, value: string | undefined) => {
    if (value === undefined) return;
    if (!TOKEN.test(value)) throw new Error(`identity field ${key} is not a plain token: ${value}`);
    lines.push(`${key}=${value}`);
  };
  if (identity.now !== undefined) token("now", String(Math.floor(identity.now)));
  token("ip", identity.ip);
  token("gw", identity.gw);
  token("mac", identity.mac);
  token("hostname", identity.hostname);
  token("machine_id", identity.machineId);
  if (identity.seed) lines.push(`seed=${b64(identity.seed)}`);
  if (identity.hostKey) {
    lines.push(`hostkey=${b64(identity.hostKey.privateKey)}`);
    lines.push(`hostkey_pub=${b64(identity.hostKey.publicKey)}`);
  }
  if (identity.rootAuthorizedKeys) lines.push(`root_keys=${b64(identity.rootAuthorizedKeys.join("\n"))}`);
  return `${lines.join("\n")}\nend\n`;
}

export type THookReply = { ok: true; machineId: string; reseeded: boolean } | { ok: false; error: string };

/** Parses one reply line of the hook; null for lines that are not replies (`ready`, noise). */
export function parseHookReply(line: string): THookReply | null {
  const text = line.trim();
  if (text.startsWith("fail ")) return { ok: false, error: text.slice(5) };
  if (!text.startsWith("ok ")) return null;
  const fields = new Map(
    text
      .slice(3)
      .split(/\s+/)
      .map((kv) => [kv.split("=")[0] ?? "", kv.slice(kv.indexOf("=") + 1)] as const),
  );
  return { ok: true, machineId: fields.get("machine-id") ?? "", reseeded: fields.get("reseeded") === "yes" };
}

/**
 * The hook, run by the guest's static busybox copied to /run/formation by the initrd. Reads its
 * port on fd 3 (host side always connected: reads block until the host writes).
 */
export const IDENTITY_HOOK_SCRIPT = `#!/run/formation/busybox sh
B=/run/formation/busybox
dev=""
for d in /sys/class/virtio-ports/*; do
  [ "$($B cat "$d/name" 2>/dev/null)" = "${IDENTITY_PORT}" ] && dev="/dev/\${d##*/}"
done
[ -n "$dev" ] || { echo "formation-identity: no ${IDENTITY_PORT} port"; exit 0; }
exec 3<>"$dev"
# A pristine snapshot is taken only once every unit of the boot is up.
/bin/systemctl is-system-running --wait >/dev/null 2>&1
echo ready >&3
apply() {
  err=""
  [ -n "$now" ] && { $B date -s "@$now" >/dev/null || err="$err date"; }
  if [ -n "$seed" ]; then
    echo "$seed" | $B base64 -d > /dev/urandom || err="$err seed"
    # RNDRESEEDCRNG: the pool (with the seed) rekeys the CRNG now, not at its next minute.
    if /usr/bin/perl -e 'open(my $f, ">", "/dev/urandom") or exit 1; ioctl($f, 0x5207, 0) or exit 1' 2>/dev/null; then
      reseeded=yes
    fi
  fi
  if [ -n "$mac" ]; then
    $B ip link set eth0 address "$mac" || err="$err mac"
  fi
  if [ -n "$ip" ] && [ -n "$gw" ]; then
    $B ip addr flush dev eth0 && $B ip addr add "$ip/32" dev eth0 &&
      $B ip route replace "$gw/32" dev eth0 scope link &&
      $B ip route replace default via "$gw" dev eth0 onlink || err="$err net"
    $B ip neigh flush dev eth0 2>/dev/null
  fi
  if [ -n "$hostname" ]; then
    $B hostname "$hostname" && echo "$hostname" > /etc/hostname || err="$err hostname"
    $B sed -i "/^127\\.0\\.1\\.1[[:space:]]/d" /etc/hosts && echo "127.0.1.1 $hostname" >> /etc/hosts
  fi
  [ -n "$machine_id" ] && { echo "$machine_id" > /etc/machine-id || err="$err machine-id"; }
  if [ -n "$hostkey" ]; then
    k=/etc/ssh/ssh_host_ed25519_key
    (umask 077 && echo "$hostkey" | $B base64 -d > "$k.tmp" && $B mv "$k.tmp" "$k") &&
      echo "$hostkey_pub" | $B base64 -d > "$k.pub" || err="$err hostkey"
    # sshd's listener holds the old key: SIGHUP makes it re-exec and read the new one.
    [ -r /run/sshd.pid ] && $B kill -HUP "$($B cat /run/sshd.pid)"
  fi
  if [ -n "$root_keys" ]; then
    (umask 077 && $B mkdir -p /root/.ssh && echo "$root_keys" | $B base64 -d > /root/.ssh/authorized_keys) ||
      err="$err root-keys"
  fi
}
while :; do
  now= ip= gw= mac= hostname= machine_id= seed= hostkey= hostkey_pub= root_keys= reseeded=no got=
  while read -r line <&3; do
    got=1
    case "$line" in
      end) break ;;
      now=*) now="\${line#now=}" ;;
      ip=*) ip="\${line#ip=}" ;;
      gw=*) gw="\${line#gw=}" ;;
      mac=*) mac="\${line#mac=}" ;;
      hostname=*) hostname="\${line#hostname=}" ;;
      machine_id=*) machine_id="\${line#machine_id=}" ;;
      seed=*) seed="\${line#seed=}" ;;
      hostkey=*) hostkey="\${line#hostkey=}" ;;
      hostkey_pub=*) hostkey_pub="\${line#hostkey_pub=}" ;;
      root_keys=*) root_keys="\${line#root_keys=}" ;;
    esac
  done
  # No host on the other end (end of file): wait for one instead of spinning.
  [ -n "$got" ] || { $B sleep 1; continue; }
  apply
  if [ -z "$err" ]; then
    echo "ok machine-id=$($B cat /etc/machine-id) reseeded=$reseeded" >&3
  else
    echo "fail$err" >&3
  fi
done
`;

/** The runtime unit that runs the hook (installed by the initrd into /run/systemd/system). */
export const IDENTITY_HOOK_UNIT = `[Unit]
Description=Formation identity channel (snapshot restore, resume)
DefaultDependencies=no
After=sysinit.target

[Service]
ExecStart=/run/formation/identity-hook
Restart=always
RestartSec=1

[Install]
WantedBy=multi-user.target
`;
