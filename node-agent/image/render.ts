import type { TFormfile, TFormfileUser } from "@/lib/formfile/canonical";

/** The builder's WORKDIR when the Formfile has none (as documented in the canonical schema). */
export const DEFAULT_WORKDIR = "/app";
export { ENTRYPOINT_UNIT } from "@/lib/formfile/guest";
export const SSH_CA_PATH = "/etc/ssh/formation_user_ca.pub";

/** POSIX shell single-quoting. */
export function shQuote(s: string): string {
  return `'${s.replaceAll("'", "'\\''")}'`;
}

/** One argument for a systemd ExecStart= line (quotes, backslashes, specifiers and `$` escaped). */
export function systemdQuote(arg: string): string {
  const escaped = arg
    .replaceAll("\\", "\\\\")
    .replaceAll('"', '\\"')
    .replaceAll("\n", "\\n")
    .replaceAll("%", "%%")
    .replaceAll("$", () => "$$");
  return `"${escaped}"`;
}

/** `Environment="KEY=value"` for a unit file or drop-in. */
export function systemdEnvLine(key: string, value: string): string {
  return `Environment=${systemdQuote(`${key}=${value}`)}`;
}

/** The PATH of build steps and of the instance's sessions and services before any ENV. */
export const SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/**
 * `$NAME` and `${NAME}` in an ENV value, expanded against the environment built so far — what a
 * user means by `ENV --scope=system PATH=/usr/local/bin:$PATH`. Nothing else of shell syntax is
 * interpreted (no command substitution): an unknown name expands to the empty string.
 */
export function expandEnvValue(value: string, env: Readonly<Record<string, string>>): string {
  return value.replace(/\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))/g, (_m, a, b) => {
    const name = String(a ?? b);
    return env[name] ?? "";
  });
}

/**
 * The system-scope ENV as the booted instance gets it (/etc/environment, which neither pam_env nor
 * systemd expands): each value expanded against SYSTEM_PATH and the entries before it, so
 * `PATH=/usr/local/bin:$PATH` means what it says in SSH sessions and the ENTRYPOINT too.
 */
export function instanceSystemEnv(formfile: TFormfile): { key: string; value: string }[] {
  const env: Record<string, string> = { PATH: SYSTEM_PATH };
  return envByScope(formfile).system.map((e) => {
    const value = expandEnvValue(e.value, env);
    env[e.key] = value;
    return { key: e.key, value };
  });
}

/** A line of /etc/environment (read by pam_env and, here, by the entrypoint's EnvironmentFile=). */
export function etcEnvironmentLine(key: string, value: string): string {
  return `${key}="${value.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("$", "\\$")}"`;
}

/** Unit name for an ENV `service:<name>` scope: a bare name means `<name>.service`. */
export function serviceUnitName(name: string): string {
  return /\.(service|socket|timer|mount|target|path)$/.test(name) ? name : `${name}.service`;
}

/**
 * The ENTRYPOINT as a systemd service. It runs as root, like the original Formation's unit, so an
 * entrypoint may bind ports below 1024 and read anything COPY placed; a Formfile that wants another
 * user can `RUN` a `service:formation-entrypoint` drop-in or use `su`/`runuser` in its entrypoint.
 */
export function entrypointUnit(opts: {
  argv: readonly string[];
  workdir: string;
  env: { key: string; value: string }[];
}): string {
  return [
    "[Unit]",
    "Description=Formation ENTRYPOINT",
    "After=network.target formation-guest-net.service",
    "",
    "[Service]",
    "Type=simple",
    `WorkingDirectory=${opts.workdir}`,
    // System-scope ENV lives in /etc/environment; services do not read it by themselves.
    "EnvironmentFile=-/etc/environment",
    ...opts.env.map((e) => systemdEnvLine(e.key, e.value)),
    `ExecStart=${opts.argv.map(systemdQuote).join(" ")}`,
    "Restart=always",
    "RestartSec=1",
    "",
    "[Install]",
    "WantedBy=multi-user.target",
    "",
  ].join("\n");
}

/**
 * sshd drop-in for the Formfile's USER options. Drop-ins are included at the top of sshd_config and
 * sshd keeps the first value it reads, so these win over Debian's defaults. The Match blocks are
 * closed with `Match all` so that the rest of sshd_config is not captured by the last block.
 */
export function sshdConfig(opts: { users: readonly TFormfileUser[]; sshCaPublicKey?: string }): string {
  const lines = ["# Formation: generated from the Formfile's USER options."];
  if (opts.sshCaPublicKey) lines.push(`TrustedUserCAKeys ${SSH_CA_PATH}`);
  if (opts.users.some((u) => u.disableRoot)) lines.push("PermitRootLogin no");
  if (opts.users.length > 0) {
    lines.push("PasswordAuthentication no", "KbdInteractiveAuthentication no");
    const pw = opts.users.filter((u) => u.sshPwauth && !u.lockPasswd).map((u) => u.username);
    if (pw.length > 0) lines.push(`Match User ${pw.join(",")}`, "  PasswordAuthentication yes", "Match all");
  }
  return `${lines.join("\n")}\n`;
}

export function sudoersLine(username: string): string {
  return `${username} ALL=(ALL:ALL) NOPASSWD:ALL\n`;
}

/**
 * Whether to expire the password (`chage -d 0`): USER chpasswd_expire (default true) on a user whose
 * password can log in. The first password login must change it; logins by key or by the console's
 * SSH certificate are not held up (the base's sshd PAM rule, `SSHD_PAM_PUBKEY_ACCOUNT`).
 */
export function shouldExpirePassword(user: TFormfileUser): boolean {
  return user.chpasswdExpire && !user.lockPasswd;
}

/** ENV entries grouped by scope. */
export function envByScope(formfile: TFormfile): {
  system: TFormfile["env"];
  users: Map<string, TFormfile["env"]>;
  services: Map<string, TFormfile["env"]>;
} {
  const system: TFormfile["env"] = [];
  const users = new Map<string, TFormfile["env"]>();
  const services = new Map<string, TFormfile["env"]>();
  for (const e of formfile.env) {
    if (e.scope === "system") system.push(e);
    else if (e.scope.startsWith("user:")) push(users, e.scope.slice(5), e);
    else if (e.scope.startsWith("service:")) push(services, serviceUnitName(e.scope.slice(8)), e);
  }
  return { system, users, services };
}

function push<T>(map: Map<string, T[]>, key: string, value: T): void {
  const list = map.get(key) ?? [];
  list.push(value);
  map.set(key, list);
}

/** Package names apt accepts (and nothing that could be read as an option). */
export const APT_PACKAGE = /^[a-z0-9][a-z0-9+.-]*(:[a-z0-9-]+)?(=[A-Za-z0-9.+~:-]+)?$/;
