import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rename, rm, symlink, unlink, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { agentEnv } from "../config/env";
import { run } from "../host/exec";
import * as guestFiles from "./guest-files";
import {
  ACPI_POWER_EVENT,
  DBUS_SOCKET_EARLY_DROPIN,
  FSTAB,
  GUEST_NET_SCRIPT,
  GUEST_NET_UNIT,
  HOSTKEYS_SCRIPT,
  HOSTKEYS_UNIT,
  LOGIN_KIND_PATH,
  LOGIN_KIND_SCRIPT,
  MASKED_GENERATORS,
  MASKED_UNITS,
  NGINX_DROPIN,
  SERIAL_GETTY_UNIT,
  SSH_EARLY_DROPIN,
  SSHD_BASE_CONF,
  SSHD_PAM_KEY_ACCOUNT,
  SSHD_PAM_PASSWORD_MARK,
  SSHD_START_PATH,
  SSHD_START_SCRIPT,
} from "./guest-files";

/** Bump when the base layout (packages, guest files, masking) changes: it is part of the cache key. */
export const BASE_VERSION = "14";
export const BASE_SUITE = "bookworm";
export const BASE_PACKAGES = [
  "systemd-sysv",
  "openssh-server",
  "iproute2",
  "sudo",
  "udev",
  "ca-certificates",
  // Lets non-root users run systemctl/hostnamectl (they talk to PID 1 over the system bus).
  "dbus",
  // Turns the ACPI power button (QMP system_powerdown) into a clean poweroff without dbus/logind.
  "acpid",
  // "Formation instances come with a pre-installed nginx server" (the original's README): enabled,
  // serving Debian's default page on port 80 until a Formfile replaces its configuration.
  "nginx",
  // The original's base is an Ubuntu cloud image, which ships python3 (cloud-init is written in
  // it); its README example's `INSTALL python3` finds it installed. Installed here, natively, the
  // standard library is byte-compiled once per base instead of for ~18 s under TCG in every build.
  "python3",
];
export const DEFAULT_CACHE_DIR = "/var/cache/formation";

export type TBaseRootfs = { dir: string; hash: string; fromCache: boolean; seconds: number };

/**
 * Apt sources for the base: the host's Debian sources when it has them (same mirror, proxies and
 * snapshot pins as the operator configured), else deb.debian.org.
 */
export async function debianSources(): Promise<string[]> {
  const mirror = agentEnv().FORMATION_DEBIAN_MIRROR;
  if (mirror) return [mirror];
  const dir = "/etc/apt/sources.list.d";
  const files = [
    ...(existsSync("/etc/apt/sources.list") ? ["/etc/apt/sources.list"] : []),
    ...(await readdir(dir).catch(() => [] as string[]))
      .filter((f) => /\.(sources|list)$/.test(f))
      .map((f) => join(dir, f)),
  ];
  const debian: string[] = [];
  for (const f of files) {
    const text = await readFile(f, "utf8").catch(() => "");
    if (/\/debian(-security)?\/?(\s|$)/m.test(text) && /\bbookworm\b/.test(text)) debian.push(f);
  }
  return debian.length > 0 ? debian : ["http://deb.debian.org/debian"];
}

export async function baseHash(sources: string[]): Promise<string> {
  const h = createHash("sha256").update(JSON.stringify({ BASE_VERSION, BASE_SUITE, BASE_PACKAGES }));
  for (const s of sources) h.update(existsSync(s) ? await readFile(s) : s);
  // Every guest file and mask list is part of the key, so editing one rebuilds the base.
  // Explicit sorted entries: a module namespace serialises differently under tsx and vitest.
  const files = Object.entries(guestFiles)
    .filter(([, v]) => typeof v === "string" || Array.isArray(v))
    .sort(([a], [b]) => (a < b ? -1 : 1));
  h.update(JSON.stringify(files));
  return h.digest("hex").slice(0, 32);
}

const inflight = new Map<string, Promise<TBaseRootfs>>();

/**
 * The Debian minbase root filesystem every image starts from, built once with mmdebstrap and cached
 * under `<cacheDir>/base/<hash>/rootfs`. Downloaded .debs are kept in `<cacheDir>/debs` (sync-in /
 * sync-out hooks) so a cold machine downloads once and later builds are offline-fast.
 */
export function ensureBaseRootfs(opts: {
  cacheDir?: string;
  onLog?: (line: string) => void;
  signal?: AbortSignal;
}): Promise<TBaseRootfs> {
  const cacheDir = opts.cacheDir ?? DEFAULT_CACHE_DIR;
  const key = cacheDir;
  const existing = inflight.get(key);
  if (existing !== undefined) return existing;
  const p = buildBase(cacheDir, opts).finally(() => inflight.delete(key));
  inflight.set(key, p);
  return p;
}

async function buildBase(
  cacheDir: string,
  opts: { onLog?: (line: string) => void; signal?: AbortSignal },
): Promise<TBaseRootfs> {
  const started = Date.now();
  const sources = await debianSources();
  const hash = await baseHash(sources);
  const dir = join(cacheDir, "base", hash, "rootfs");
  if (existsSync(join(cacheDir, "base", hash, "complete"))) return { dir, hash, fromCache: true, seconds: 0 };

  const debs = join(cacheDir, "debs");
  await mkdir(debs, { recursive: true });
  await mkdir(join(cacheDir, "base"), { recursive: true });
  const tmp = await mkdtemp(join(cacheDir, "base", `.${hash}-`));
  const log = opts.onLog ?? (() => undefined);
  try {
    const root = join(tmp, "rootfs");
    log(`base: mmdebstrap ${BASE_SUITE} minbase + ${BASE_PACKAGES.join(",")} (deb cache ${debs})`);
    await run(
      [
        "mmdebstrap",
        "--variant=minbase",
        "--mode=root",
        "--format=directory",
        `--include=${BASE_PACKAGES.join(",")}`,
        // Keep the package lists (INSTALL then needs no `apt-get update`) and the essential .debs
        // (so sync-out can cache them).
        "--skip=essential/unlink",
        "--skip=cleanup/apt/lists",
        '--setup-hook=mkdir -p "$1/var/cache/apt/archives"',
        `--setup-hook=sync-in ${debs} /var/cache/apt/archives/`,
        `--customize-hook=sync-out /var/cache/apt/archives ${debs}`,
        BASE_SUITE,
        root,
        ...sources,
      ],
      { onLine: (l) => log(`base: ${l}`), signal: opts.signal },
    );
    await customizeBase(root);
    // apt's binary package cache, built here at native speed: INSTALL in the build VM (emulated
    // under TCG) then maps it instead of parsing every package list (~10 s under TCG).
    await run(["chroot", root, "apt-cache", "gencaches"], { signal: opts.signal });
    await rm(join(cacheDir, "base", hash), { recursive: true, force: true });
    await mkdir(join(cacheDir, "base", hash));
    await rename(root, dir);
    await writeFile(join(cacheDir, "base", hash, "complete"), `${new Date().toISOString()}\n`);
    const seconds = (Date.now() - started) / 1000;
    log(`base: ready in ${seconds.toFixed(1)} s`);
    return { dir, hash, fromCache: false, seconds };
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/**
 * /etc/pam.d/sshd without the pam_motd line that runs update-motd.d's scripts at every SSH session
 * (non-interactive ones included: run-parts and its scripts, ~0.15 s a login under TCG). The base
 * ships no such script; the static /etc/motd (pam_motd noupdate) is still shown.
 */
export function withoutDynamicMotd(pam: string): string {
  return pam.replace(/^session\s+optional\s+pam_motd\.so\s+motd=\/run\/motd\.dynamic\s*\n/m, "");
}

/** /etc/pam.d/sshd with the login-kind rules right before the standard auth and account stacks. */
export function withLoginKindRules(pam: string): string {
  let out = pam;
  for (const [stack, rule] of [
    ["common-auth", SSHD_PAM_PASSWORD_MARK],
    ["common-account", SSHD_PAM_KEY_ACCOUNT],
  ] as const) {
    const include = new RegExp(`^@include ${stack}$`, "m");
    if (!include.test(out)) throw new Error(`base: /etc/pam.d/sshd has no '@include ${stack}' line`);
    out = out.replace(include, `${rule}@include ${stack}`);
  }
  return out;
}

/** Guest-side settings shared by every image: network from the cmdline, per-VM host keys, masks. */
async function customizeBase(root: string): Promise<void> {
  const sys = join(root, "etc/systemd/system");
  await writeFile(join(root, "usr/local/sbin/formation-guest-net"), GUEST_NET_SCRIPT, { mode: 0o755 });
  await writeFile(join(sys, "formation-guest-net.service"), GUEST_NET_UNIT);
  await writeFile(join(root, "usr/local/sbin/formation-hostkeys"), HOSTKEYS_SCRIPT, { mode: 0o755 });
  await writeFile(join(sys, "formation-hostkeys.service"), HOSTKEYS_UNIT);
  await writeFile(join(root, SSHD_START_PATH.slice(1)), SSHD_START_SCRIPT, { mode: 0o755 });
  await mkdir(join(sys, "sysinit.target.wants"), { recursive: true });
  await mkdir(join(sys, "multi-user.target.wants"), { recursive: true });
  await symlink(
    "../formation-guest-net.service",
    join(sys, "sysinit.target.wants/formation-guest-net.service"),
  );
  await symlink(
    "../formation-hostkeys.service",
    join(sys, "multi-user.target.wants/formation-hostkeys.service"),
  );
  await writeFile(join(sys, "formation-serial-getty.service"), SERIAL_GETTY_UNIT);
  await symlink(
    "../formation-serial-getty.service",
    join(sys, "multi-user.target.wants/formation-serial-getty.service"),
  );
  for (const unit of MASKED_UNITS) {
    for (const wants of [
      "timers.target.wants",
      "multi-user.target.wants",
      "sysinit.target.wants",
      "getty.target.wants",
    ]) {
      await unlink(join(sys, wants, unit)).catch(() => undefined);
    }
    await unlink(join(sys, unit)).catch(() => undefined);
    await symlink("/dev/null", join(sys, unit));
  }
  await mkdir(join(root, "etc/systemd/system-generators"), { recursive: true });
  for (const g of MASKED_GENERATORS)
    await symlink("/dev/null", join(root, "etc/systemd/system-generators", g));
  for (const f of await readdir(join(root, "etc/ssh"))) {
    if (f.startsWith("ssh_host_")) await unlink(join(root, "etc/ssh", f));
  }
  await writeFile(join(root, "etc/ssh/sshd_config.d/10-formation-base.conf"), SSHD_BASE_CONF);
  await writeFile(join(root, "etc/fstab"), FSTAB);
  await mkdir(join(sys, "ssh.service.d"), { recursive: true });
  await writeFile(join(sys, "ssh.service.d/10-formation-early.conf"), SSH_EARLY_DROPIN);
  // sshd now starts before systemd-user-sessions; without this, /run/nologin would refuse
  // non-root logins for the seconds in between.
  await symlink("/dev/null", join(root, "etc/tmpfiles.d/systemd-nologin.conf"));
  await mkdir(join(root, "etc/acpi/events"), { recursive: true });
  await writeFile(join(root, "etc/acpi/events/formation-power"), ACPI_POWER_EVENT);
  await writeFile(join(root, "etc/hostname"), "formation\n");
  await mkdir(join(sys, "nginx.service.d"), { recursive: true });
  await writeFile(join(sys, "nginx.service.d/10-formation.conf"), NGINX_DROPIN);
  await mkdir(dirname(join(root, LOGIN_KIND_PATH)), { recursive: true });
  await writeFile(join(root, LOGIN_KIND_PATH), LOGIN_KIND_SCRIPT, { mode: 0o755 });
  const pam = join(root, "etc/pam.d/sshd");
  await writeFile(pam, withoutDynamicMotd(withLoginKindRules(await readFile(pam, "utf8"))));
  // dbus stays socket-activated (started on first use, e.g. a non-root `systemctl`) instead of
  // competing with sshd for the single vCPU during boot.
  await unlink(join(root, "lib/systemd/system/multi-user.target.wants/dbus.service")).catch(() => undefined);
  await mkdir(join(sys, "dbus.socket.d"), { recursive: true });
  await writeFile(join(sys, "dbus.socket.d/10-formation-early.conf"), DBUS_SOCKET_EARLY_DROPIN);
  // minbase ships no /etc/hosts; formation-guest-net adds the VM's hostname at boot.
  await writeFile(join(root, "etc/hosts"), "127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n");
  // update-motd.d's only script; pam_motd no longer runs that directory (withoutDynamicMotd).
  await rm(join(root, "etc/update-motd.d/10-uname"), { force: true });
  // Empty machine-id: systemd makes a fresh one per VM at boot instead of every replica sharing one.
  await writeFile(join(root, "etc/machine-id"), "");
  await rm(join(root, "var/lib/dbus/machine-id"), { force: true });
}
