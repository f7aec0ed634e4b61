import { sha256 } from "@noble/hashes/sha2";
import { bytesToHex } from "@noble/hashes/utils";
import type { TFormfile, THealthcheck } from "./canonical";
import { canonicalJson } from "./canonical-json";
import { closest, type TDiagnostic } from "./diagnostics";
import {
  handleDescription,
  handleDisk,
  handleExpose,
  handleGpu,
  handleMem,
  handleName,
  handleVcpu,
  handleWorkdir,
} from "./instructions-basic";
import { checkHealthcheckPort, handleHealthcheck } from "./instructions-health";
import { handleCopy, handleEntrypoint, handleEnv, handleInstall, handleRun } from "./instructions-runtime";
import { logicalLines, type TLogicalLine, tokenize } from "./lexer";
import { LIMITS } from "./rules";
import { CRYPT_SALT_PATTERN, randomCryptSalt, sha512Crypt } from "./sha512-crypt";
import { newState, type TFormfileLocations, type TInstructionContext, type TParseState } from "./state";
import { checkFormfileText } from "./text";
import { handleUser } from "./user";

type THandler = (ctx: TInstructionContext) => void;

const HANDLERS: Record<string, THandler> = {
  NAME: handleName,
  DESCRIPTION: handleDescription,
  USER: handleUser,
  VCPU: handleVcpu,
  MEM: handleMem,
  DISK: handleDisk,
  GPU: handleGpu,
  COPY: handleCopy,
  RUN: handleRun,
  INSTALL: handleInstall,
  ENV: handleEnv,
  WORKDIR: handleWorkdir,
  ENTRYPOINT: handleEntrypoint,
  EXPOSE: handleExpose,
  HEALTHCHECK: handleHealthcheck,
};
const ALIASES: Record<string, string> = { CPU: "VCPU", CORES: "VCPU", MEMORY: "MEM", STORAGE: "DISK" };
/** Every keyword the language accepts (canonical names and aliases). */
export const INSTRUCTIONS = [...Object.keys(HANDLERS), ...Object.keys(ALIASES)];

export type TParseOptions = {
  /** Fixed crypt salt (1–16 of `./0-9A-Za-z`) for reproducible output in tests; random by default. */
  salt?: string;
  /** Replaces SHA-512 crypt (e.g. a native implementation); receives the plain password. */
  hashPassword?: (password: string) => string;
};

export type TParseSuccess = {
  ok: true;
  formfile: TFormfile;
  warnings: TDiagnostic[];
  locations: TFormfileLocations;
};
export type TParseFailure = { ok: false; errors: TDiagnostic[] };
export type TParseResult = TParseSuccess | TParseFailure;

function dispatch(line: TLogicalLine, state: TParseState): void {
  const text = line.text;
  // Plain scans instead of trim/regex: this runs once per line and dominated the profile.
  let keywordOffset = 0;
  while (text[keywordOffset] === " " || text[keywordOffset] === "\t") keywordOffset++;
  let wordEnd = keywordOffset;
  while (wordEnd < text.length && text[wordEnd] !== " " && text[wordEnd] !== "\t") wordEnd++;
  const word = text.slice(keywordOffset, wordEnd);
  const report = (list: TDiagnostic[]) => (offset: number, message: string, hint?: string) => {
    list.push({ ...line.positionOf(offset), message, ...(hint ? { hint } : {}) });
  };
  const error = report(state.errors);
  let lettersEnd = 0;
  while (lettersEnd < word.length && /[A-Za-z]/.test(word[lettersEnd] ?? "")) lettersEnd++;
  const letters = word.slice(0, lettersEnd);
  const upper = letters.toUpperCase();
  const keyword = ALIASES[upper] ?? upper;
  const handler = HANDLERS[keyword];
  if (handler === undefined || letters.length !== word.length) {
    if (handler !== undefined) {
      error(keywordOffset + letters.length, `expected a space after ${upper}`, `write "${upper} <value>"`);
      return;
    }
    const guess = closest(word.toUpperCase(), INSTRUCTIONS);
    error(
      keywordOffset,
      `unknown instruction ${word}${guess ? ` — did you mean ${guess}?` : ""}`,
      guess ? undefined : `instructions: ${Object.keys(HANDLERS).join(", ")}`,
    );
    return;
  }
  let argsOffset = keywordOffset + word.length;
  while (text[argsOffset] === " " || text[argsOffset] === "\t") argsOffset++;
  let tokenCache: ReturnType<typeof tokenize> | undefined;
  let quoteReported = false;
  handler({
    keyword,
    line,
    argsOffset,
    keywordOffset,
    state,
    error,
    warn: report(state.warnings),
    tokens() {
      tokenCache ??= tokenize(text, argsOffset);
      if (tokenCache.error) {
        // Report once even if the handler asks again.
        if (!quoteReported) error(tokenCache.error.offset, tokenCache.error.message, "close the quote");
        quoteReported = true;
        return undefined;
      }
      return tokenCache.tokens;
    },
  });
}

/** Cross-instruction rules that need the whole file: at least one USER, ENV user scopes exist. */
function checkWholeFile(state: TParseState): void {
  // A USER that failed validation has its own errors; "no USER" would only add noise.
  if (state.users.length === 0 && !state.seen.has("USER")) {
    state.errors.push({
      line: 1,
      column: 1,
      message: "the Formfile declares no USER",
      hint: "add one, e.g. USER username:webdev passwd:secret sudo:true",
    });
  }
  const names = new Set(state.users.map((u) => u.user.username));
  for (const env of state.env) {
    const user = env.scope.startsWith("user:") ? env.scope.slice(5) : undefined;
    if (user !== undefined && state.users.length > 0 && !names.has(user)) {
      state.errors.push({
        ...env.scopePosition,
        message: `ENV scope user:${user} names no declared USER`,
        hint: `declared users: ${[...names].join(", ")}`,
      });
    }
  }
  checkHealthcheckPort(state);
}

/**
 * The deterministic name of a Formfile without NAME: `form-` + the first 12 hex digits of SHA-256 over
 * its canonical JSON with the name blank and password hashes removed (so no password material leaks).
 */
export function autoName(formfile: TFormfile): string {
  const anonymous = { ...formfile, name: "", users: formfile.users.map((u) => ({ ...u, passwdHash: "" })) };
  return `form-${bytesToHex(sha256(new TextEncoder().encode(canonicalJson(anonymous)))).slice(0, 12)}`;
}

function canonicalHealthcheck(state: TParseState): THealthcheck | undefined {
  const hc = state.healthcheck;
  if (!hc) return undefined;
  if (hc.kind === "none") return { kind: "none" };
  const timing = {
    port: hc.port ?? state.expose[0] ?? 0,
    intervalMs: hc.intervalMs,
    timeoutMs: hc.timeoutMs,
    retries: hc.retries,
    startPeriodMs: hc.startPeriodMs,
  };
  return hc.kind === "http" ? { kind: "http", path: hc.path ?? "/", ...timing } : { kind: "tcp", ...timing };
}

function build(state: TParseState, opts: TParseOptions): TFormfile {
  const salt = opts.salt;
  const hash = opts.hashPassword ?? ((pw: string) => sha512Crypt(pw, `$6$${salt ?? randomCryptSalt()}`));
  const formfile: TFormfile = {
    name: state.name ?? "",
    description: state.description ?? null,
    resources: {
      vcpu: state.vcpu ?? LIMITS.vcpu.default,
      memoryMb: state.memoryMb ?? LIMITS.memoryMb.default,
      diskGb: state.diskGb ?? LIMITS.diskGb.default,
      gpu: state.gpu ?? null,
    },
    users: state.users.map(({ user, passwd }) => {
      const { username, ...rest } = user;
      return { username, passwdHash: hash(passwd), ...rest };
    }),
    workdir: state.workdir ?? null,
    entrypoint: state.entrypoint ?? null,
    expose: state.expose,
    env: state.env.map(({ scope, key, value }) => ({ scope, key, value })),
    steps: state.steps,
  };
  const healthcheck = canonicalHealthcheck(state);
  // Only present when written: Formfiles without HEALTHCHECK keep their canonical JSON (build ids).
  if (healthcheck) formfile.healthcheck = healthcheck;
  if (formfile.name === "") formfile.name = autoName(formfile);
  return formfile;
}

/**
 * Parses and validates a Formfile. Reports every error of the file at once (sorted by position);
 * passwords are hashed with SHA-512 crypt only when the file is valid.
 */
export function parseFormfile(text: string, opts: TParseOptions = {}): TParseResult {
  if (opts.salt !== undefined && !CRYPT_SALT_PATTERN.test(opts.salt)) {
    throw new RangeError("parseFormfile: salt must be 1–16 characters of ./0-9A-Za-z");
  }
  const notText = checkFormfileText(text);
  if (notText) return { ok: false, errors: [notText] };
  const state = newState();
  const { lines, warnings } = logicalLines(text);
  state.warnings.push(...warnings);
  for (const line of lines) dispatch(line, state);
  checkWholeFile(state);
  const byPosition = (a: TDiagnostic, b: TDiagnostic): number => a.line - b.line || a.column - b.column;
  if (state.errors.length > 0) return { ok: false, errors: state.errors.sort(byPosition) };
  return {
    ok: true,
    formfile: build(state, opts),
    warnings: state.warnings.sort(byPosition),
    locations: state.locations,
  };
}
