import { TRPCClientError } from "@trpc/client";
import { FormationError, isAppErrorCode, type TAppErrorCode } from "../lib/errors";

/**
 * The CLI's one error type. `kind` picks the exit code: `user` (1) means the user can fix it (bad
 * flag, wrong password, unknown build id); `remote` (2) means the console or network failed and a
 * retry may work. Every message says what happened and what to do.
 */
export type TCliErrorKind = "user" | "remote";

/**
 * The console's code when the error came from the API (lib/errors.ts), CONSOLE_UNREACHABLE when
 * the request never reached a console, otherwise the kind of a failure the CLI found itself.
 */
export type TCliErrorCode = TAppErrorCode | "CONSOLE_UNREACHABLE" | "CLI_USER" | "CLI_REMOTE";

export class CliError extends FormationError<TCliErrorCode> {
  override readonly name = "CliError";
  readonly kind: TCliErrorKind;
  /** The console's `error.data.appCode` when the error came from the API. */
  readonly appCode: TAppErrorCode | null;

  constructor(
    kind: TCliErrorKind,
    message: string,
    options: { cause?: unknown; appCode?: TAppErrorCode; code?: "CONSOLE_UNREACHABLE" } = {},
  ) {
    super(options.appCode ?? options.code ?? (kind === "user" ? "CLI_USER" : "CLI_REMOTE"), message, {
      cause: options.cause,
    });
    this.kind = kind;
    this.appCode = options.appCode ?? null;
  }

  get exitCode(): 1 | 2 {
    return this.kind === "user" ? 1 : 2;
  }
}

/** What to tell the user per console error code (see server/errors.ts); matched by code, never text. */
const APP_CODE_HINTS: Record<TAppErrorCode, { kind: TCliErrorKind; hint: string }> = {
  BAD_REQUEST: { kind: "user", hint: "check the command's arguments" },
  UNAUTHORIZED: {
    kind: "user",
    hint: "the console did not accept this key's signature — check --host and your clock, or run `form kit init` again",
  },
  SIGNATURE_INVALID: {
    kind: "user",
    hint: "the signature did not verify — check that --host is the console you set up",
  },
  SIGNATURE_EXPIRED: {
    kind: "user",
    hint: "the signature expired — check this machine's clock (NTP) and retry",
  },
  FORBIDDEN: { kind: "user", hint: "this key does not own that resource — use the key that created it" },
  NOT_FOUND: { kind: "user", hint: "check the id (list yours with `form pack status` or the console)" },
  CONFLICT: {
    kind: "user",
    hint: "the resource is not in a state that allows this — check `form pack status`",
  },
  PRECONDITION_FAILED: {
    kind: "user",
    hint: "a precondition failed — check `form pack status` and retry when ready",
  },
  PAYLOAD_TOO_LARGE: {
    kind: "user",
    hint: "the request is over the console's limit named above — for a build context, leave files out with a .formignore",
  },
  NONCE_REUSED: { kind: "remote", hint: "the request was replayed or sent twice — retry the command" },
  RATE_LIMITED: { kind: "remote", hint: "too many requests — wait a moment and retry" },
  RESOURCE_EXHAUSTED: {
    kind: "remote",
    hint: "the platform is out of what the message names — free what you no longer use, or ask the console's operator",
  },
  UNAVAILABLE: { kind: "remote", hint: "the console is temporarily unavailable — retry shortly" },
  INTERNAL: { kind: "remote", hint: "the console failed — retry, and check its logs if it persists" },
};

/** The raw `error.data.appCode` (a newer console may send a code this CLI does not know). */
function appCodeOf(error: TRPCClientError<never>): string | null {
  const data: unknown = error.data;
  if (typeof data === "object" && data !== null && "appCode" in data && typeof data.appCode === "string")
    return data.appCode;
  return null;
}

/** Turns anything thrown while talking to the console into a CliError with an actionable message. */
export function toCliError(error: unknown, host: string): CliError {
  if (error instanceof CliError) return error;
  if (error instanceof TRPCClientError) {
    const appCode = appCodeOf(error);
    if (appCode === null) {
      // No tRPC error body: the request never reached the console (refused, DNS, TLS, not a console).
      return new CliError(
        "remote",
        `cannot reach the console at ${host}: ${error.message} — check --host (or the host in your config) and that the console is running`,
        { cause: error, code: "CONSOLE_UNREACHABLE" },
      );
    }
    if (!isAppErrorCode(appCode))
      return new CliError("remote", `${error.message} — retry the command`, { cause: error });
    const known = APP_CODE_HINTS[appCode];
    return new CliError(known.kind, `${error.message} — ${known.hint}`, { cause: error, appCode });
  }
  if (error instanceof Error) return new CliError("remote", error.message, { cause: error });
  return new CliError("remote", String(error));
}
