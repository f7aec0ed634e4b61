import type { TFormfile, TFormfileUser } from "@/lib/formfile/canonical";
import { POLICY_RC_D } from "./guest-files";
import {
  ENTRYPOINT_UNIT,
  entrypointUnit,
  envByScope,
  etcEnvironmentLine,
  instanceSystemEnv,
  SSH_CA_PATH,
  shouldExpirePassword,
  shQuote,
  sshdConfig,
  sudoersLine,
  systemdEnvLine,
} from "./render";
import { RootScript } from "./root-script";

/**
 * The build's first sandbox entry: policy-rc.d (maintainer scripts never start services), WORKDIR,
 * then every USER — before COPY/INSTALL/RUN, as cloud-init orders it in the original, so RUN steps
 * can chown to them.
 */
export function prologueScript(opts: { formfile: TFormfile; workdir: string }): RootScript {
  const s = new RootScript()
    .write({ label: "policy-rc.d", path: "/usr/sbin/policy-rc.d", content: POLICY_RC_D, mode: "0755" })
    .command("WORKDIR", ["mkdir", "-p", "--", opts.workdir]);
  for (const user of opts.formfile.users) addUser(s, user);
  return s;
}

/**
 * Every Formfile user may read the system journal (systemd's `systemd-journal` group): the console
 * shows the app's logs (`journalctl -u formation-entrypoint`) over SSH as that user.
 */
const JOURNAL_GROUP = "systemd-journal";

function addUser(s: RootScript, u: TFormfileUser): void {
  const label = `USER ${u.username}`;
  const groups = [...new Set([...u.groups, ...(u.sudo ? ["sudo"] : []), JOURNAL_GROUP])];
  // Each program costs ~50–100 ms under TCG: names are looked up with shell builtins (fm_has), and
  // one useradd or usermod sets the shell, the groups and the password together.
  s.shell({
    label,
    snippet: 'for g in "$@"; do fm_has /etc/group "$g" || groupadd -- "$g"; done',
    args: groups,
  });
  s.shell({
    label,
    snippet:
      'if fm_has /etc/passwd "$1"; then usermod -s "$2" -a -G "$3" -p "$4" -- "$1"; else useradd -m -U -s "$2" -G "$3" -p "$4" -- "$1"; fi',
    args: [u.username, u.shell, groups.join(","), u.passwdHash],
  });
  if (u.lockPasswd) s.command(label, ["usermod", "-L", "--", u.username]);
  if (shouldExpirePassword(u)) s.command(label, ["chage", "-d", "0", "--", u.username]);
  if (u.sudo) {
    s.write({
      label,
      path: `/etc/sudoers.d/90-formation-${u.username}`,
      content: sudoersLine(u.username),
      mode: "0440",
    });
  }
  if (u.sshAuthorizedKeys.length > 0) {
    s.shell({
      label,
      snippet: [
        'h=""; while IFS=: read -r n _ uid gid _ home _; do [ "$n" = "$1" ] && { h=$home; o=$uid; g=$gid; }; done < /etc/passwd',
        '[ -n "$h" ]',
        'install -d -m 700 -o "$o" -g "$g" -- "$h/.ssh"',
        'install -m 600 -o "$o" -g "$g" /proc/self/fd/0 "$h/.ssh/authorized_keys"',
      ].join("; "),
      args: [u.username],
      stdin: `${u.sshAuthorizedKeys.join("\n")}\n`,
    });
  }
}

/**
 * The build's last sandbox entry, after the Formfile's steps: ENV by scope, sshd and the SSH CA,
 * the ENTRYPOINT unit, EXPOSE, the Formfile record, and policy-rc.d removed again.
 */
export function epilogueScript(opts: {
  formfile: TFormfile;
  workdir: string;
  sshCaPublicKey?: string;
}): RootScript {
  const { formfile } = opts;
  const s = new RootScript();
  addEnv(s, formfile);
  s.write({
    label: "sshd",
    path: "/etc/ssh/sshd_config.d/50-formation.conf",
    content: sshdConfig({ users: formfile.users, sshCaPublicKey: opts.sshCaPublicKey }),
  });
  if (opts.sshCaPublicKey) {
    s.write({ label: "SSH CA", path: SSH_CA_PATH, content: `${opts.sshCaPublicKey.trim()}\n`, mode: "0644" });
  }
  if (formfile.entrypoint) {
    const env = envByScope(formfile).services.get(ENTRYPOINT_UNIT) ?? [];
    s.write({
      label: "ENTRYPOINT",
      path: `/etc/systemd/system/${ENTRYPOINT_UNIT}`,
      content: entrypointUnit({ argv: formfile.entrypoint, workdir: opts.workdir, env }),
    });
    s.command("ENTRYPOINT", [
      "ln",
      "-sf",
      `../${ENTRYPOINT_UNIT}`,
      `/etc/systemd/system/multi-user.target.wants/${ENTRYPOINT_UNIT}`,
    ]);
    if (entrypointRunsNginx(formfile.entrypoint)) {
      // `ENTRYPOINT nginx -g "daemon off;"` (the original's own example) would lose port 80 to the
      // pre-installed nginx service: the entrypoint's nginx is the one the Formfile means.
      s.shell({
        label: "ENTRYPOINT",
        snippet:
          'rm -f /etc/systemd/system/multi-user.target.wants/nginx.service && echo "ENTRYPOINT runs nginx: the pre-installed nginx service is disabled so that the two do not compete for port 80"',
        args: [],
      });
    }
  }
  s.write({
    label: "EXPOSE",
    path: "/etc/formation/expose",
    content: formfile.expose.map((p) => `${p}\n`).join(""),
  });
  s.write({
    label: "Formfile record",
    path: "/etc/formation/formfile.json",
    content: `${JSON.stringify({ ...formfile, users: formfile.users.map((u) => ({ ...u, passwdHash: "*" })) }, null, 2)}\n`,
    mode: "0644",
  });
  s.command("policy-rc.d", ["rm", "-f", "/usr/sbin/policy-rc.d"]);
  return s;
}

/** Whether the ENTRYPOINT's program is nginx itself (`nginx`, `/usr/sbin/nginx`). */
export function entrypointRunsNginx(argv: readonly string[]): boolean {
  const program = argv[0] ?? "";
  return program === "nginx" || program.endsWith("/nginx");
}

function addEnv(s: RootScript, formfile: TFormfile): void {
  const { users, services } = envByScope(formfile);
  const system = instanceSystemEnv(formfile);
  if (system.length > 0) {
    s.write({
      label: "ENV --scope=system",
      path: "/etc/environment",
      content: system.map((e) => `${etcEnvironmentLine(e.key, e.value)}\n`).join(""),
      append: true,
    });
  }
  for (const [username, entries] of users) {
    s.shell({
      label: `ENV --scope=user:${username}`,
      snippet:
        'h=$(getent passwd "$1" | cut -d: -f6); [ -n "$h" ] || { echo "ENV: no user $1" >&2; exit 1; }; cat >> "$h/.profile"; chown "$1:" "$h/.profile"',
      args: [username],
      stdin: `\n# Formation ENV --scope=user:${username}\n${entries.map((e) => `export ${e.key}=${shQuote(e.value)}\n`).join("")}`,
    });
  }
  for (const [unit, entries] of services) {
    if (unit === ENTRYPOINT_UNIT) continue;
    s.write({
      label: `ENV --scope=service:${unit}`,
      path: `/etc/systemd/system/${unit}.d/50-formation-env.conf`,
      content: `[Service]\n${entries.map((e) => `${systemdEnvLine(e.key, e.value)}\n`).join("")}`,
    });
  }
}
