import { type TFormfile, ZFormfile } from "./canonical";
import {
  ENV_KEY_PATTERN,
  GPU_MODEL_PATTERN,
  GROUP_PATTERN,
  HEALTH_PATH_PATTERN,
  HEALTHCHECK_LIMITS,
  LIMITS,
  NAME_PATTERN,
  normaliseAbsolutePath,
  normaliseContextPath,
  PACKAGE_PATTERN,
  SERVICE_PATTERN,
  SSH_KEY_PATTERN,
  USERNAME_PATTERN,
} from "./rules";

/** `$6$[rounds=N$]salt$hash` as produced by sha512Crypt. */
const PASSWD_HASH_PATTERN = /^\$6\$(?:rounds=\d{4,9}\$)?[./0-9A-Za-z]{1,16}\$[./0-9A-Za-z]{86}$/;
// Newlines and NULs would let a value break out of the file or unit it is written into.
const UNSAFE_TEXT = /[\0\r\n]/;

export type TCanonicalIssue = { path: string; message: string };

function inRange(value: number, limits: { min: number; max: number }): boolean {
  return Number.isInteger(value) && value >= limits.min && value <= limits.max;
}

function checkUsers(formfile: TFormfile, issue: (path: string, message: string) => void): void {
  if (formfile.users.length === 0) issue("users", "at least one USER is required");
  const seen = new Set<string>();
  formfile.users.forEach((user, i) => {
    const at = `users[${i}]`;
    if (!USERNAME_PATTERN.test(user.username)) issue(`${at}.username`, "is not a valid Linux user name");
    if (seen.has(user.username)) issue(`${at}.username`, `duplicate user ${user.username}`);
    seen.add(user.username);
    if (!PASSWD_HASH_PATTERN.test(user.passwdHash)) issue(`${at}.passwdHash`, "must be a SHA-512 crypt hash");
    if (normaliseAbsolutePath(user.shell) !== user.shell)
      issue(`${at}.shell`, "must be a normalised absolute path");
    user.groups.forEach((g, j) => {
      if (!GROUP_PATTERN.test(g)) issue(`${at}.groups[${j}]`, "is not a valid group name");
    });
    user.sshAuthorizedKeys.forEach((k, j) => {
      if (!SSH_KEY_PATTERN.test(k) || UNSAFE_TEXT.test(k))
        issue(`${at}.sshAuthorizedKeys[${j}]`, "is not an SSH public key");
    });
  });
}

function checkSteps(formfile: TFormfile, issue: (path: string, message: string) => void): void {
  formfile.steps.forEach((step, i) => {
    const at = `steps[${i}]`;
    if (step.kind === "copy") {
      if (normaliseContextPath(step.src) !== step.src)
        issue(`${at}.src`, "must stay inside the build context");
      if (normaliseAbsolutePath(step.dst) !== step.dst)
        issue(`${at}.dst`, "must be a normalised absolute path");
    } else if (step.kind === "install") {
      if (step.packages.length === 0) issue(`${at}.packages`, "INSTALL needs at least one package");
      step.packages.forEach((p, j) => {
        if (!PACKAGE_PATTERN.test(p)) issue(`${at}.packages[${j}]`, "is not a Debian package name");
      });
    } else if (step.command.trim() === "" || step.command.includes("\0")) {
      issue(`${at}.command`, "RUN needs a command without NUL bytes");
    }
  });
}

function checkHealthcheck(formfile: TFormfile, issue: (path: string, message: string) => void): void {
  const hc = formfile.healthcheck;
  if (!hc || hc.kind === "none") return;
  const L = HEALTHCHECK_LIMITS;
  if (!inRange(hc.port, { min: 1, max: 65_535 })) issue("healthcheck.port", "must be a port 1–65535");
  if (!inRange(hc.intervalMs, L.intervalMs)) issue("healthcheck.intervalMs", "is out of range");
  if (!inRange(hc.timeoutMs, L.timeoutMs) || hc.timeoutMs > hc.intervalMs)
    issue("healthcheck.timeoutMs", "is out of range or longer than the interval");
  if (!inRange(hc.retries, L.retries)) issue("healthcheck.retries", "is out of range");
  if (!inRange(hc.startPeriodMs, L.startPeriodMs)) issue("healthcheck.startPeriodMs", "is out of range");
  if (hc.kind === "http" && (!HEALTH_PATH_PATTERN.test(hc.path) || hc.path.length > L.pathMax))
    issue("healthcheck.path", "must start with / and contain printable characters without spaces");
}

/**
 * Validates a canonical Formfile received as JSON from an untrusted client, with every rule the
 * parser enforces on Formfile text, so the console never queues a build the agent would refuse or
 * that could inject into the files the image builder writes.
 */
export function validateCanonicalFormfile(
  input: unknown,
): { ok: true; formfile: TFormfile } | { ok: false; issues: TCanonicalIssue[] } {
  const parsed = ZFormfile.safeParse(input);
  if (!parsed.success) {
    return {
      ok: false,
      issues: parsed.error.issues.map((i) => ({ path: i.path.join(".") || "formfile", message: i.message })),
    };
  }
  const formfile = parsed.data;
  const issues: TCanonicalIssue[] = [];
  const issue = (path: string, message: string) => issues.push({ path, message });
  if (!NAME_PATTERN.test(formfile.name)) issue("name", "must be a lowercase hostname label");
  if (formfile.description !== null && formfile.description.length > LIMITS.descriptionMax) {
    issue("description", `must be at most ${LIMITS.descriptionMax} characters`);
  }
  const { vcpu, memoryMb, diskGb, gpu } = formfile.resources;
  if (!inRange(vcpu, LIMITS.vcpu)) issue("resources.vcpu", `must be ${LIMITS.vcpu.min}–${LIMITS.vcpu.max}`);
  if (!inRange(memoryMb, LIMITS.memoryMb)) {
    issue("resources.memoryMb", `must be ${LIMITS.memoryMb.min}–${LIMITS.memoryMb.max}`);
  }
  if (!inRange(diskGb, LIMITS.diskGb))
    issue("resources.diskGb", `must be ${LIMITS.diskGb.min}–${LIMITS.diskGb.max}`);
  if (gpu && (!GPU_MODEL_PATTERN.test(gpu.model) || !inRange(gpu.count, LIMITS.gpuCount))) {
    issue("resources.gpu", "has an invalid model or count");
  }
  checkUsers(formfile, issue);
  if (formfile.workdir !== null && normaliseAbsolutePath(formfile.workdir) !== formfile.workdir) {
    issue("workdir", "must be a normalised absolute path");
  }
  if (formfile.entrypoint !== null) {
    if (formfile.entrypoint.length === 0) issue("entrypoint", "must not be empty");
    if (formfile.entrypoint.some((a) => UNSAFE_TEXT.test(a)))
      issue("entrypoint", "must not contain newlines or NUL");
  }
  formfile.expose.forEach((port, i) => {
    if (!inRange(port, { min: 1, max: 65_535 })) issue(`expose[${i}]`, "must be a port 1–65535");
  });
  formfile.env.forEach((e, i) => {
    if (!ENV_KEY_PATTERN.test(e.key)) issue(`env[${i}].key`, "is not a valid variable name");
    if (UNSAFE_TEXT.test(e.value)) issue(`env[${i}].value`, "must not contain newlines or NUL");
    const service = e.scope.startsWith("service:") ? e.scope.slice("service:".length) : null;
    if (service !== null && !SERVICE_PATTERN.test(service))
      issue(`env[${i}].scope`, "names an invalid service");
  });
  checkSteps(formfile, issue);
  checkHealthcheck(formfile, issue);
  return issues.length === 0 ? { ok: true, formfile } : { ok: false, issues };
}
