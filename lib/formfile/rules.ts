/**
 * The value rules of the Formfile language, in one place so the parser, the docs and the tests agree.
 */

export const LIMITS = {
  vcpu: { min: 1, max: 128, default: 1 },
  memoryMb: { min: 512, max: 256_000, default: 512 },
  diskGb: { min: 5, max: 65_535, default: 5 },
  gpuCount: { min: 1, max: 16 },
  descriptionMax: 1000,
} as const;

/** HEALTHCHECK bounds and defaults (the defaults are also those of the implicit TCP check). */
export const HEALTHCHECK_LIMITS = {
  intervalMs: { min: 1_000, max: 3_600_000, default: 10_000 },
  timeoutMs: { min: 100, max: 60_000, default: 2_000 },
  retries: { min: 1, max: 10, default: 3 },
  startPeriodMs: { min: 0, max: 3_600_000, default: 0 },
  pathMax: 1024,
} as const;

/** An HTTP health check path: absolute, printable ASCII without spaces (query allowed). */
export const HEALTH_PATH_PATTERN = /^\/[\x21-\x7e]*$/;

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };

/** Parses a duration such as `500ms`, `10s`, `2m` or `1h` into milliseconds; undefined otherwise. */
export function parseDuration(value: string): number | undefined {
  const match = /^(\d{1,7})(ms|s|m|h)$/.exec(value);
  if (!match) return undefined;
  return Number(match[1]) * (DURATION_UNITS[match[2] ?? ""] ?? Number.NaN);
}

/** Formats milliseconds the way a Formfile writes them (`10s`, `1500ms`, `2m`). */
export function formatDuration(ms: number): string {
  if (ms % 3_600_000 === 0 && ms > 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0 && ms > 0) return `${ms / 60_000}m`;
  if (ms % 1_000 === 0) return `${ms / 1_000}s`;
  return `${ms}ms`;
}

/** NAME becomes a hostname-like label: lowercase letters, digits and inner hyphens, 1–63 characters. */
export const NAME_PATTERN = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
/** Linux user names as accepted by `useradd` defaults (and cloud-init). */
export const USERNAME_PATTERN = /^[a-z_][a-z0-9_-]{0,31}$/;
export const GROUP_PATTERN = USERNAME_PATTERN;
export const ENV_KEY_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/;
export const SERVICE_PATTERN = /^[A-Za-z0-9_.@-]+$/;
/** A Debian package name, optionally with `:arch` and `=version` (no shell metacharacters can pass). */
export const PACKAGE_PATTERN = /^[a-z0-9][a-z0-9+.-]*(?::[a-z0-9-]+)?(?:=[A-Za-z0-9.+~:-]+)?$/;
export const GPU_MODEL_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
export const SSH_KEY_PATTERN =
  /^(?:ssh-(?:rsa|dss|ed25519)|ecdsa-sha2-nistp(?:256|384|521)|sk-(?:ssh-ed25519|ecdsa-sha2-nistp256)@openssh\.com)\s+\S+/;

const TRUE_WORDS = new Set(["true", "yes", "1", "on"]);
const FALSE_WORDS = new Set(["false", "no", "0", "off"]);

/** Parses a Formfile boolean (`true/yes/1/on`, `false/no/0/off`, any case); undefined if neither. */
export function parseBoolean(value: string): boolean | undefined {
  const v = value.toLowerCase();
  if (TRUE_WORDS.has(v)) return true;
  if (FALSE_WORDS.has(v)) return false;
  return undefined;
}

/** Parses a plain decimal integer (no sign, unit or exponent); undefined otherwise. */
export function parseInteger(value: string): number | undefined {
  if (!/^\d{1,12}$/.test(value)) return undefined;
  return Number(value);
}

/** Normalises an absolute POSIX path (`//a/./b/` → `/a/b`); undefined if relative or using `..`. */
export function normaliseAbsolutePath(value: string): string | undefined {
  if (!value.startsWith("/") || value.includes("\0")) return undefined;
  const parts = value.split("/").filter((p) => p !== "" && p !== ".");
  if (parts.includes("..")) return undefined;
  return `/${parts.join("/")}`;
}

/** Normalises a context-relative COPY source (`./app/` → `app`, `.` stays `.`); undefined if it escapes. */
export function normaliseContextPath(value: string): string | undefined {
  if (value.startsWith("/") || value.includes("\0") || value.includes("\\")) return undefined;
  const parts = value.split("/").filter((p) => p !== "" && p !== ".");
  if (parts.includes("..")) return undefined;
  return parts.length === 0 ? "." : parts.join("/");
}
