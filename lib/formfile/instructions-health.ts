import { argsBetween, once } from "./args";
import { closest } from "./diagnostics";
import type { TToken } from "./lexer";
import {
  formatDuration,
  HEALTH_PATH_PATTERN,
  HEALTHCHECK_LIMITS,
  parseDuration,
  parseInteger,
} from "./rules";
import type { TInstructionContext, TPendingHealthcheck } from "./state";

/** HEALTHCHECK: how the edge probes a replica before and while it sends it traffic. */

const USAGE =
  "HEALTHCHECK [--interval=10s] [--timeout=2s] [--retries=3] [--start-period=0s] [--port=N] http /healthz | tcp | none";
const MODES = ["http", "tcp", "none"] as const;
type TMode = (typeof MODES)[number];

type TTiming = Pick<TPendingHealthcheck, "intervalMs" | "timeoutMs" | "retries" | "startPeriodMs">;
type TOptionName = "interval" | "timeout" | "retries" | "start-period" | "port";
const OPTIONS: readonly TOptionName[] = ["interval", "timeout", "retries", "start-period", "port"];

const DURATION_OPTIONS = {
  interval: { key: "intervalMs", limits: HEALTHCHECK_LIMITS.intervalMs },
  timeout: { key: "timeoutMs", limits: HEALTHCHECK_LIMITS.timeoutMs },
  "start-period": { key: "startPeriodMs", limits: HEALTHCHECK_LIMITS.startPeriodMs },
} as const;

type TOptions = Partial<TTiming> & { port?: number; tokens: Map<TOptionName, TToken> };

/** Parses one `--name=value` token into `into`; reports and returns false when it is not valid. */
function parseOption(ctx: TInstructionContext, token: TToken, into: TOptions): boolean {
  const eq = token.value.indexOf("=");
  const name = token.value.slice(2, eq === -1 ? undefined : eq);
  const valueOffset = token.offset + (eq === -1 ? token.value.length : eq + 1);
  if (!(OPTIONS as readonly string[]).includes(name)) {
    const guess = closest(name, OPTIONS);
    ctx.error(
      token.offset,
      `unknown HEALTHCHECK option "--${name}"${guess ? ` — did you mean --${guess}?` : ""}`,
      `options: ${OPTIONS.map((o) => `--${o}`).join(", ")}`,
    );
    return false;
  }
  const option = name as TOptionName;
  if (into.tokens.has(option)) {
    ctx.error(token.offset, `HEALTHCHECK --${option} is given twice`, "keep one");
    return false;
  }
  into.tokens.set(option, token);
  const value = eq === -1 ? "" : token.value.slice(eq + 1);
  if (value === "") {
    const example =
      option === "port" ? "--port=8080" : option === "retries" ? "--retries=3" : `--${option}=10s`;
    ctx.error(valueOffset, `HEALTHCHECK --${option} needs a value`, `e.g. ${example}`);
    return false;
  }
  if (option === "port" || option === "retries") {
    const limits = option === "port" ? { min: 1, max: 65_535 } : HEALTHCHECK_LIMITS.retries;
    const n = parseInteger(value);
    if (n === undefined || n < limits.min || n > limits.max) {
      ctx.error(
        valueOffset,
        `HEALTHCHECK --${option} "${value}" must be a whole number between ${limits.min} and ${limits.max}`,
        option === "port" ? "the port your app answers on, e.g. --port=8080" : "e.g. --retries=3",
      );
      return false;
    }
    if (option === "port") into.port = n;
    else into.retries = n;
    return true;
  }
  const spec = DURATION_OPTIONS[option];
  const ms = parseDuration(value);
  if (ms === undefined) {
    ctx.error(
      valueOffset,
      `HEALTHCHECK --${option} "${value}" is not a duration`,
      "write a number with a unit: 500ms, 10s, 2m or 1h",
    );
    return false;
  }
  if (ms < spec.limits.min || ms > spec.limits.max) {
    ctx.error(
      valueOffset,
      `HEALTHCHECK --${option} ${value} is out of range: allowed ${formatDuration(spec.limits.min)}–${formatDuration(spec.limits.max)}`,
      `e.g. --${option}=${formatDuration(spec.limits.default || 30_000)}`,
    );
    return false;
  }
  into[spec.key] = ms;
  return true;
}

/** The check itself: `http <path>`, `tcp` or `none`, with what follows it. */
function parseMode(
  ctx: TInstructionContext,
  positional: TToken[],
): { mode: TMode; path?: string } | undefined {
  const [first, second, third] = positional;
  if (first === undefined) {
    const end = ctx.tokens()?.at(-1)?.end ?? ctx.argsOffset;
    ctx.error(end, "HEALTHCHECK needs a check: http <path>, tcp or none", `usage: ${USAGE}`);
    return undefined;
  }
  const mode = first.value.toLowerCase();
  if (!(MODES as readonly string[]).includes(mode)) {
    const guess = closest(mode, MODES);
    ctx.error(
      first.offset,
      `unknown HEALTHCHECK check "${first.value}"${guess ? ` — did you mean ${guess}?` : ""}`,
      "use http /path (an HTTP GET that must answer 2xx or 3xx), tcp (a TCP connect) or none",
    );
    return undefined;
  }
  if (mode !== "http") {
    if (second !== undefined) {
      ctx.error(
        second.offset,
        `HEALTHCHECK ${mode} takes no further argument, found "${second.value}"`,
        mode === "tcp" ? "choose the port with --port=N" : "write just HEALTHCHECK none",
      );
      return undefined;
    }
    return { mode: mode as TMode };
  }
  if (second === undefined) {
    ctx.error(first.end, "HEALTHCHECK http needs a path", "e.g. HEALTHCHECK http /healthz");
    return undefined;
  }
  if (!HEALTH_PATH_PATTERN.test(second.value) || second.value.length > HEALTHCHECK_LIMITS.pathMax) {
    ctx.error(
      second.offset,
      `HEALTHCHECK http path "${second.value}" must start with / and contain no spaces (at most ${HEALTHCHECK_LIMITS.pathMax} characters)`,
      "e.g. HEALTHCHECK http /healthz",
    );
    return undefined;
  }
  if (third !== undefined) {
    ctx.error(
      third.offset,
      `HEALTHCHECK http takes one path, found "${third.value}" after it`,
      "choose the port with --port=N",
    );
    return undefined;
  }
  return { mode: "http", path: second.value };
}

/**
 * HEALTHCHECK [options] http <path> | tcp | none. Options may stand anywhere; the port defaults to
 * the first EXPOSEd port, which `checkHealthcheckPort` resolves once the whole file is read.
 */
export function handleHealthcheck(ctx: TInstructionContext): void {
  if (!once(ctx)) return;
  const tokens = argsBetween(ctx, { min: 1, max: Number.POSITIVE_INFINITY, usage: USAGE });
  if (tokens === undefined) return;
  const options: TOptions = { tokens: new Map() };
  let ok = true;
  const positional: TToken[] = [];
  for (const token of tokens) {
    if (token.value.startsWith("--")) ok = parseOption(ctx, token, options) && ok;
    else positional.push(token);
  }
  const check = parseMode(ctx, positional);
  if (!check || !ok) return;
  const position = ctx.line.positionOf(ctx.keywordOffset);
  if (check.mode === "none") {
    const [name, token] = [...options.tokens][0] ?? [];
    if (token) {
      ctx.error(
        token.offset,
        `HEALTHCHECK none takes no options, found --${name}`,
        "write just HEALTHCHECK none",
      );
      return;
    }
    ctx.state.healthcheck = { kind: "none", position, ...defaultTiming() };
    return;
  }
  const timing = { ...defaultTiming(), ...withoutTokens(options) };
  if (options.timeoutMs === undefined) timing.timeoutMs = Math.min(timing.timeoutMs, timing.intervalMs);
  const timeoutToken = options.tokens.get("timeout");
  if (timeoutToken && timing.timeoutMs > timing.intervalMs) {
    ctx.error(
      timeoutToken.offset,
      `HEALTHCHECK --timeout ${formatDuration(timing.timeoutMs)} is longer than its --interval ${formatDuration(timing.intervalMs)}`,
      "a probe must end before the next one starts: shorten --timeout or lengthen --interval",
    );
    return;
  }
  ctx.state.healthcheck = {
    kind: check.mode,
    ...(check.path === undefined ? {} : { path: check.path }),
    ...(options.port === undefined ? {} : { port: options.port }),
    position,
    ...timing,
  };
}

function defaultTiming(): TTiming {
  return {
    intervalMs: HEALTHCHECK_LIMITS.intervalMs.default,
    timeoutMs: HEALTHCHECK_LIMITS.timeoutMs.default,
    retries: HEALTHCHECK_LIMITS.retries.default,
    startPeriodMs: HEALTHCHECK_LIMITS.startPeriodMs.default,
  };
}

function withoutTokens(options: TOptions): Partial<TTiming> {
  const out: Partial<TTiming> = {};
  if (options.intervalMs !== undefined) out.intervalMs = options.intervalMs;
  if (options.timeoutMs !== undefined) out.timeoutMs = options.timeoutMs;
  if (options.retries !== undefined) out.retries = options.retries;
  if (options.startPeriodMs !== undefined) out.startPeriodMs = options.startPeriodMs;
  return out;
}

/** A check without --port needs an EXPOSEd port (EXPOSE may come after HEALTHCHECK). */
export function checkHealthcheckPort(state: TInstructionContext["state"]): void {
  const hc = state.healthcheck;
  if (!hc || hc.kind === "none" || hc.port !== undefined || state.expose.length > 0) return;
  state.errors.push({
    ...hc.position,
    message: `HEALTHCHECK ${hc.kind} has no port to check`,
    hint: "EXPOSE the port your app listens on, or pass --port=N",
  });
}
