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
 * Values are plain tokens or octal escapes (keys, seed) only printf's format reads: nothing from
 * the host is evaluated as shell.
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

/**
 * Bytes as printf octal escapes (`\ooo` each): the hook writes them with its shell's printf
 * builtin, so no decoder process is started (each costs ~0.1 s of emulated CPU under TCG).
 */
export function octalEscapes(bytes: string | Buffer): string {
  return [...Buffer.from(bytes)].map((b) => `\\${b.toString(8).padStart(3, "0")}`).join("");
}

/** The wire form of one message: `key=value` lines, then `end`. Throws on a value that is not a token. */
export function identityMessage(identity: TIdentity): string {
  const lines: string[] = [];
  const token = (key: string, value: string | undefined) => {
    if (value === undefined) return;
    if (!TOKEN.test(value)) throw new Error(`identity field ${key} is not a plain token: ${value}`);
    lines.push(`${key}=${value}`);
  };
  // The seed first: the hook reseeds before anything can reach the guest over its new address.
  if (identity.seed) lines.push(`seed=${octalEscapes(identity.seed)}`);
  if (identity.now !== undefined) token("now", String(Math.floor(identity.now)));
  token("ip", identity.ip);
  token("gw", identity.gw);
  token("mac", identity.mac);
  token("hostname", identity.hostname);
  token("machine_id", identity.machineId);
  if (identity.hostKey) {
    lines.push(`hostkey=${octalEscapes(identity.hostKey.privateKey)}`);
    lines.push(`hostkey_pub=${octalEscapes(identity.hostKey.publicKey)}`);
  }
  if (identity.rootAuthorizedKeys)
    lines.push(`root_keys=${octalEscapes(identity.rootAuthorizedKeys.join("\n"))}`);
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
# Shell builtins wherever possible: every process started costs ~0.1 s of emulated CPU under TCG.
B=/run/formation/busybox
dev=""
for d in /sys/class/virtio-ports/*; do
  n=""; read -r n < "$d/name" 2>/dev/null
  [ "$n" = "${IDENTITY_PORT}" ] && dev="/dev/\${d##*/}"
done
[ -n "$dev" ] || { echo "formation-identity: no ${IDENTITY_PORT} port"; exit 0; }
exec 3<>"$dev"
# The address and gateway this boot started with (a restored VM keeps its template's).
read -r cmdline < /proc/cmdline
cur_ip=""; cur_gw=""
for a in $cmdline; do
  case "$a" in
    formation.ip=*) cur_ip="\${a#formation.ip=}" ;;
    formation.gw=*) cur_gw="\${a#formation.gw=}" ;;
  esac
done
# A pristine snapshot is taken only once every unit of the boot is up.
/bin/systemctl is-system-running --wait >/dev/null 2>&1
echo ready >&3
apply() {
  err=""
  if [ -n "$seed" ]; then
    printf "$seed" > /dev/urandom || err="$err seed"
    # RNDRESEEDCRNG: the pool (with the seed) rekeys the CRNG now, not at its next minute.
    if /usr/bin/perl -e 'open(my $f, ">", "/dev/urandom") or exit 1; ioctl($f, 0x5207, 0) or exit 1' 2>/dev/null; then
      reseeded=yes
    fi
  fi
  [ -n "$now" ] && { $B date -s "@$now" >/dev/null || err="$err date"; }
  [ -n "$mac" ] && { $B ip link set eth0 address "$mac" || err="$err mac"; }
  if [ -n "$ip" ] && [ "$ip" != "$cur_ip" ]; then
    # Added before the old one goes, so the routes over eth0 stay.
    $B ip addr add "$ip/32" dev eth0 || err="$err address"
    [ -n "$cur_ip" ] && $B ip addr del "$cur_ip/32" dev eth0 2>/dev/null
    cur_ip="$ip"
  fi
  if [ -n "$gw" ] && [ "$gw" != "$cur_gw" ]; then
    $B ip route replace "$gw/32" dev eth0 scope link &&
      $B ip route replace default via "$gw" dev eth0 onlink || err="$err route"
    cur_gw="$gw"
  fi
  if [ -n "$hostname" ]; then
    { echo "$hostname" > /proc/sys/kernel/hostname && echo "$hostname" > /etc/hostname; } || err="$err hostname"
    hosts=""
    while IFS= read -r l || [ -n "$l" ]; do
      case "$l" in "127.0.1.1 "* | "127.0.1.1	"*) ;; *) hosts="$hosts$l
" ;; esac
    done < /etc/hosts
    printf '%s127.0.1.1 %s\\n' "$hosts" "$hostname" > /etc/hosts || err="$err hosts"
  fi
  [ -n "$machine_id" ] && { echo "$machine_id" > /etc/machine-id || err="$err machine-id"; }
  if [ -n "$hostkey" ]; then
    # sshd re-executes itself per connection and reads its host keys then: no restart needed.
    umask 077
    printf "$hostkey" > /etc/ssh/ssh_host_ed25519_key || err="$err hostkey"
    umask 022
    printf "$hostkey_pub" > /etc/ssh/ssh_host_ed25519_key.pub || err="$err hostkey"
  fi
  if [ -n "$root_keys" ]; then
    umask 077
    [ -d /root/.ssh ] || $B mkdir -p /root/.ssh
    printf "$root_keys" > /root/.ssh/authorized_keys || err="$err root-keys"
    umask 022
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
  mid=""; read -r mid < /etc/machine-id
  if [ -z "$err" ]; then
    echo "ok machine-id=$mid reseeded=$reseeded" >&3
  else
    echo "fail$err" >&3
  fi
done
`;

/** The runtime unit that runs the hook (installed by the initrd into /run/systemd/system). */
export const IDENTITY_HOOK_UNIT = `[Unit]
Description=Formation identity channel (snapshot restore, resume)
# Started once the boot is done: it must not take emulated CPU from the units sshd waits for.
After=multi-user.target

[Service]
ExecStart=/run/formation/identity-hook
Restart=always
RestartSec=1

[Install]
WantedBy=multi-user.target
`;
