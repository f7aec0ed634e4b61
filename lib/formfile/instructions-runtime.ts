import { argsBetween, once, rawArgs } from "./args";
import {
  ENV_KEY_PATTERN,
  normaliseAbsolutePath,
  normaliseContextPath,
  PACKAGE_PATTERN,
  SERVICE_PATTERN,
  USERNAME_PATTERN,
} from "./rules";
import type { TInstructionContext } from "./state";

/** COPY, RUN, INSTALL, ENV and ENTRYPOINT. */

export function handleCopy(ctx: TInstructionContext): void {
  const tokens = argsBetween(ctx, {
    min: 2,
    max: 2,
    usage: "COPY ./app /app (copy the whole context with COPY . /app)",
  });
  const [src, dst] = tokens ?? [];
  if (src === undefined || dst === undefined) return;
  let ok = true;
  const source = normaliseContextPath(src.value);
  if (source === undefined) {
    ctx.error(
      src.offset,
      `COPY source "${src.value}" must be a path inside the build context (relative, without "..")`,
      "paths are relative to the directory holding the Formfile, e.g. COPY ./app /app",
    );
    ok = false;
  } else if (/[*?[\]]/.test(source)) {
    ctx.error(
      src.offset,
      `COPY source "${src.value}" uses wildcards, which are not supported`,
      "copy the enclosing directory instead",
    );
    ok = false;
  }
  const destination = normaliseAbsolutePath(dst.value);
  if (destination === undefined) {
    ctx.error(
      dst.offset,
      `COPY destination "${dst.value}" must be an absolute path without ".."`,
      `e.g. COPY ${src.value} /app`,
    );
    ok = false;
  }
  if (ok && source !== undefined && destination !== undefined) {
    ctx.state.steps.push({ kind: "copy", src: source, dst: destination, line: ctx.line.line });
    ctx.state.locations.copySources.push(ctx.line.positionOf(src.offset));
  }
}

/** RUN: the rest of the line, verbatim, as a build step. */
export function handleRun(ctx: TInstructionContext): void {
  const command = rawArgs(ctx);
  if (command === "") {
    ctx.error(ctx.argsOffset, "RUN needs a command", "usage: RUN apt-get update && apt-get install -y curl");
    return;
  }
  ctx.state.steps.push({ kind: "run", command, line: ctx.line.line });
}

/** INSTALL: Debian package names as a build step. */
export function handleInstall(ctx: TInstructionContext): void {
  const tokens = argsBetween(ctx, { min: 1, max: Number.POSITIVE_INFINITY, usage: "INSTALL nginx python3" });
  if (tokens === undefined) return;
  const packages: string[] = [];
  let valid = true;
  for (const token of tokens) {
    if (!PACKAGE_PATTERN.test(token.value)) {
      valid = false;
      ctx.error(
        token.offset,
        `"${token.value}" is not a valid Debian package name`,
        "use lowercase names such as python3 or nginx (optionally name=version); use RUN for anything else",
      );
    } else if (!packages.includes(token.value)) {
      packages.push(token.value);
    }
  }
  if (valid) ctx.state.steps.push({ kind: "install", packages, line: ctx.line.line });
}

function parseScope(ctx: TInstructionContext, value: string, offset: number): string | undefined {
  const scope = value.slice("--scope=".length);
  const colon = scope.indexOf(":");
  const kind = colon === -1 ? scope : scope.slice(0, colon);
  const target = colon === -1 ? "" : scope.slice(colon + 1);
  const at = offset + "--scope=".length;
  if (scope === "system") return scope;
  if (kind === "user" && USERNAME_PATTERN.test(target)) return scope;
  if (kind === "service" && SERVICE_PATTERN.test(target)) return scope;
  if (kind === "user" || kind === "service") {
    ctx.error(
      at + colon + 1,
      `invalid ${kind} name "${target}" in ENV scope`,
      `e.g. --scope=${kind}:${kind === "user" ? "webdev" : "nginx"}`,
    );
  } else {
    ctx.error(
      at,
      `unknown ENV scope "${scope}"`,
      "use --scope=system, --scope=user:<name> or --scope=service:<name>",
    );
  }
  return undefined;
}

/** ENV [--scope=…] KEY=value…: environment variables per scope. */
export function handleEnv(ctx: TInstructionContext): void {
  const usage = "ENV [--scope=system|user:<name>|service:<name>] KEY=value";
  const tokens = argsBetween(ctx, { min: 1, max: Number.POSITIVE_INFINITY, usage });
  if (tokens === undefined) return;
  let scope: string | undefined = "system";
  let rest = tokens;
  const first = tokens[0];
  let scopePosition = ctx.line.positionOf(ctx.argsOffset);
  if (first?.value.startsWith("--")) {
    rest = tokens.slice(1);
    scopePosition = ctx.line.positionOf(first.offset + "--scope=user:".length);
    if (first.value.startsWith("--scope=")) scope = parseScope(ctx, first.value, first.offset);
    else {
      ctx.error(first.offset, `unknown ENV option "${first.value}"`, `usage: ${usage}`);
      scope = undefined;
    }
    if (rest.length === 0) {
      ctx.error(first.end, "ENV needs at least one KEY=value after the scope", `usage: ${usage}`);
      return;
    }
  }
  for (const token of rest) {
    const eq = token.value.indexOf("=");
    const key = eq === -1 ? token.value : token.value.slice(0, eq);
    if (eq === -1) {
      ctx.error(
        token.offset,
        `ENV expects KEY=value, got "${token.value}"`,
        `e.g. ENV ${key || "PORT"}=8080`,
      );
      continue;
    }
    if (!ENV_KEY_PATTERN.test(key)) {
      ctx.error(
        token.offset,
        `invalid ENV key "${key}"`,
        "keys start with a letter or underscore and contain only letters, digits and underscores",
      );
      continue;
    }
    if (scope === undefined) continue;
    const duplicate = ctx.state.env.find((e) => e.scope === scope && e.key === key);
    if (duplicate) {
      ctx.error(
        token.offset,
        `ENV ${key} is already set for scope ${scope} at line ${duplicate.position.line}`,
        "keep one definition",
      );
      continue;
    }
    ctx.state.env.push({
      scope,
      key,
      value: token.value.slice(eq + 1),
      position: ctx.line.positionOf(token.offset),
      scopePosition,
    });
  }
}

/** ENTRYPOINT: JSON array or quote-aware shell form, both stored as argv. */
export function handleEntrypoint(ctx: TInstructionContext): void {
  if (!once(ctx)) return;
  const raw = rawArgs(ctx);
  const usage = 'ENTRYPOINT ["python3", "server.py"] or ENTRYPOINT python3 server.py';
  ctx.state.locations.entrypoint = ctx.line.positionOf(ctx.argsOffset);
  if (raw.startsWith("[")) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch {
      ctx.error(
        ctx.argsOffset,
        "ENTRYPOINT is not a valid JSON array",
        `use double quotes and commas: ${usage}`,
      );
      return;
    }
    if (
      !Array.isArray(parsed) ||
      parsed.length === 0 ||
      !parsed.every((a) => typeof a === "string") ||
      parsed[0] === ""
    ) {
      ctx.error(
        ctx.argsOffset,
        "ENTRYPOINT JSON form must be a non-empty array of strings",
        `usage: ${usage}`,
      );
      return;
    }
    ctx.state.entrypoint = parsed;
    return;
  }
  const tokens = argsBetween(ctx, { min: 1, max: Number.POSITIVE_INFINITY, usage });
  if (tokens !== undefined) ctx.state.entrypoint = tokens.map((t) => t.value);
}
