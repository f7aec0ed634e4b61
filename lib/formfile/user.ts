import { defaultUserOptions } from "./canonical";
import { closest } from "./diagnostics";
import type { TToken } from "./lexer";
import {
  GROUP_PATTERN,
  normaliseAbsolutePath,
  parseBoolean,
  SSH_KEY_PATTERN,
  USERNAME_PATTERN,
} from "./rules";
import type { TInstructionContext, TPendingUser } from "./state";

/** USER: `key:value` options, ten of them, with the original's defaults. */

const BOOLEAN_OPTIONS = {
  lock_passwd: "lockPasswd",
  sudo: "sudo",
  ssh_pwauth: "sshPwauth",
  disable_root: "disableRoot",
  chpasswd_expire: "chpasswdExpire",
} as const;
type TBooleanOption = keyof typeof BOOLEAN_OPTIONS;

export const USER_OPTIONS = [
  "username",
  "passwd",
  "ssh_authorized_keys",
  "lock_passwd",
  "sudo",
  "shell",
  "ssh_pwauth",
  "disable_root",
  "chpasswd_expire",
  "groups",
] as const;

const USAGE =
  'USER username:webdev passwd:secret sudo:true ssh_authorized_keys:"ssh-ed25519 AAAA… me@laptop"';

/**
 * An OpenSSH public key's second field is the base64 of a blob that starts with the key type
 * (`AAAA…`); the README's `ssh-rsa ...` placeholder and similar stand-ins fail this.
 */
function looksLikeKeyData(key: string): boolean {
  const data = key.split(/\s+/)[1] ?? "";
  return /^AAAA[A-Za-z0-9+/]{40,}={0,3}$/.test(data);
}

const isBooleanOption = (key: string): key is TBooleanOption => Object.hasOwn(BOOLEAN_OPTIONS, key);

function commaList(value: string): string[] {
  return value
    .split(",")
    .map((v) => v.trim())
    .filter((v) => v !== "");
}

type TApplyArgs = {
  ctx: TInstructionContext;
  pending: TPendingUser;
  key: string;
  token: TToken;
  valueOffset: number;
};

/** Validates one option value and stores it on `pending`; reports and returns on error. */
function applyOption({ ctx, pending, key, token, valueOffset }: TApplyArgs): void {
  const value = token.value.slice(key.length + 1);
  const user = pending.user;
  if (isBooleanOption(key)) {
    const b = parseBoolean(value);
    if (b === undefined) {
      ctx.error(
        valueOffset,
        `USER ${key} must be a boolean, got "${value}"`,
        "use true/yes/1/on or false/no/0/off",
      );
      return;
    }
    user[BOOLEAN_OPTIONS[key]] = b;
    return;
  }
  switch (key) {
    case "username":
      if (!USERNAME_PATTERN.test(value)) {
        ctx.error(
          valueOffset,
          `invalid username "${value}"`,
          "start with a lowercase letter or underscore, then up to 31 lowercase letters, digits, _ or -",
        );
        return;
      }
      user.username = value;
      return;
    case "passwd":
      if (value === "") {
        ctx.error(
          valueOffset,
          "USER passwd must not be empty",
          "set passwd:<password> (it is stored hashed)",
        );
        return;
      }
      pending.passwd = value;
      return;
    case "shell": {
      const shell = normaliseAbsolutePath(value);
      if (shell === undefined) {
        ctx.error(valueOffset, `USER shell must be an absolute path, got "${value}"`, "e.g. shell:/bin/bash");
        return;
      }
      user.shell = shell;
      return;
    }
    case "groups": {
      const groups = commaList(value);
      const bad = groups.find((g) => !GROUP_PATTERN.test(g));
      if (bad !== undefined) {
        ctx.error(
          valueOffset,
          `invalid group name "${bad}"`,
          "groups are a comma list such as groups:docker,users",
        );
        return;
      }
      user.groups = [...new Set(groups)];
      return;
    }
    case "ssh_authorized_keys": {
      const keys = commaList(value);
      const bad = keys.find((k) => !SSH_KEY_PATTERN.test(k));
      if (bad !== undefined) {
        ctx.error(
          valueOffset,
          `"${bad.length > 40 ? `${bad.slice(0, 40)}…` : bad}" is not an SSH public key`,
          'quote each key with its type, e.g. ssh_authorized_keys:"ssh-ed25519 AAAA… me@laptop"; separate keys with commas',
        );
        return;
      }
      const placeholder = keys.find((k) => !looksLikeKeyData(k));
      if (placeholder !== undefined) {
        ctx.warn(
          valueOffset,
          `"${placeholder.length > 40 ? `${placeholder.slice(0, 40)}…` : placeholder}" looks like a placeholder, not a real SSH public key: ssh with a key will not let you in`,
          "paste your own public key, e.g. the contents of ~/.ssh/id_ed25519.pub (the web terminal works without one)",
        );
      }
      user.sshAuthorizedKeys = keys;
      return;
    }
  }
}

/** USER key:value…: one account with the ten options and their defaults. */
export function handleUser(ctx: TInstructionContext): void {
  // Recorded so the whole-file check does not add "no USER" on top of this USER's own errors.
  if (!ctx.state.seen.has("USER")) ctx.state.seen.set("USER", ctx.line.line);
  const tokens = ctx.tokens();
  if (tokens === undefined) return;
  if (tokens.length === 0) {
    ctx.error(ctx.argsOffset, "USER needs at least username and passwd", `usage: ${USAGE}`);
    return;
  }
  const errorsBefore = ctx.state.errors.length;
  const pending: TPendingUser = {
    user: { username: "", ...defaultUserOptions() },
    passwd: "",
    position: ctx.line.positionOf(ctx.keywordOffset),
  };
  const seen = new Set<string>();
  for (const token of tokens) {
    const colon = token.value.indexOf(":");
    if (colon <= 0) {
      // The token is not echoed: after a mistyped `passwd secret` it would be the password.
      ctx.error(token.offset, "USER options are key:value pairs; this one has no key", `usage: ${USAGE}`);
      continue;
    }
    const key = token.value.slice(0, colon).toLowerCase();
    if (!(USER_OPTIONS as readonly string[]).includes(key)) {
      const guess = closest(key, USER_OPTIONS);
      ctx.error(
        token.offset,
        `unknown USER option "${key}"${guess ? ` — did you mean ${guess}?` : ""}`,
        `options: ${USER_OPTIONS.join(", ")}`,
      );
      continue;
    }
    if (seen.has(key)) {
      ctx.error(token.offset, `USER option ${key} is given twice`, "keep one");
      continue;
    }
    seen.add(key);
    applyOption({ ctx, pending, key, token, valueOffset: token.offset + colon + 1 });
  }
  const at = ctx.keywordOffset;
  if (!seen.has("username")) ctx.error(at, "USER is missing username", `usage: ${USAGE}`);
  if (!seen.has("passwd"))
    ctx.error(at, "USER is missing passwd", "add passwd:<password> (it is stored hashed)");
  if (ctx.state.errors.length !== errorsBefore) return;

  const twin = ctx.state.users.find((u) => u.user.username === pending.user.username);
  if (twin) {
    ctx.error(
      at,
      `user ${pending.user.username} is declared twice (first at line ${twin.position.line})`,
      "give each USER a distinct username",
    );
    return;
  }
  if (pending.user.lockPasswd && pending.user.sshAuthorizedKeys.length === 0) {
    ctx.warn(
      at,
      `user ${pending.user.username} has a locked password and no SSH key, so nobody can log in as it`,
    );
  }
  ctx.state.locations.users[pending.user.username] = pending.position;
  ctx.state.users.push(pending);
}
