/**
 * The one error base of Formation, shaped like viem's `BaseError`: every error the console, the
 * agent, the CLI and the shared code throw on purpose is a `FormationError` with
 *
 * - `code`: a stable, typed code (each subclass narrows it to its own union) — match on it, never
 *   on the message;
 * - `shortMessage`: one line saying what happened (what a UI shows in a toast or a table cell);
 * - `message`: the short message, plus what only a log or a terminal needs (command output,
 *   compiler messages); the same as `shortMessage` unless the subclass adds to it;
 * - `details`: facts a program may read (ids, limits, the failed command line), never needed to
 *   understand the message;
 * - `cause`: the error underneath, so a cause chain reaches the system call or the child process.
 */
export type TErrorDetails = Readonly<Record<string, unknown>>;

export type TFormationErrorOptions = {
  details?: TErrorDetails;
  cause?: unknown;
  /** The full message when it says more than the short message; defaults to the short message. */
  message?: string;
};

export class FormationError<TCode extends string = string> extends Error {
  override readonly name: string = "FormationError";
  readonly code: TCode;
  readonly shortMessage: string;
  readonly details: TErrorDetails | undefined;

  constructor(code: TCode, shortMessage: string, options: TFormationErrorOptions = {}) {
    super(
      options.message ?? shortMessage,
      options.cause === undefined ? undefined : { cause: options.cause },
    );
    this.code = code;
    this.shortMessage = shortMessage;
    this.details = options.details;
  }
}

/** The first FormationError on `error`'s cause chain (frameworks wrap what was thrown), if any. */
export function findFormationError(error: unknown): FormationError | undefined {
  let current: unknown = error;
  for (let depth = 0; current instanceof Error && depth < 8; depth++) {
    if (current instanceof FormationError) return current;
    current = current.cause;
  }
  return undefined;
}

/**
 * The console API's error codes: what `AppError` (server/errors.ts) carries and every client
 * (browser, CLI) receives as `error.data.appCode`. The console maps each to a tRPC code and an
 * HTTP status once (server/errors.ts); clients choose what to tell the user by this code.
 *
 * | code                | meaning                                                          |
 * |---------------------|------------------------------------------------------------------|
 * | BAD_REQUEST         | input is malformed or inconsistent                               |
 * | UNAUTHORIZED        | no valid session or signature: sign in / sign the request        |
 * | FORBIDDEN           | authenticated, but not allowed to do this                        |
 * | NOT_FOUND           | the thing does not exist (or is not visible to the caller)       |
 * | CONFLICT            | the request conflicts with current state                         |
 * | SIGNATURE_INVALID   | signature does not match signer / payload / domain               |
 * | SIGNATURE_EXPIRED   | the signed request expired (or expires too far ahead)            |
 * | NONCE_REUSED        | the nonce was already consumed: replay                           |
 * | PRECONDITION_FAILED | state does not allow this yet (e.g. build not finished)          |
 * | PAYLOAD_TOO_LARGE   | upload or input over the limit                                   |
 * | RATE_LIMITED        | too many requests                                                |
 * | RESOURCE_EXHAUSTED  | the platform ran out of something shared (e.g. formnet addresses) |
 * | UNAVAILABLE         | a dependency (chain, node, database) is unreachable              |
 * | INTERNAL            | a bug; details are logged, not returned                          |
 */
export const APP_ERROR_CODES = [
  "BAD_REQUEST",
  "UNAUTHORIZED",
  "FORBIDDEN",
  "NOT_FOUND",
  "CONFLICT",
  "SIGNATURE_INVALID",
  "SIGNATURE_EXPIRED",
  "NONCE_REUSED",
  "PRECONDITION_FAILED",
  "PAYLOAD_TOO_LARGE",
  "RATE_LIMITED",
  "RESOURCE_EXHAUSTED",
  "UNAVAILABLE",
  "INTERNAL",
] as const;

export type TAppErrorCode = (typeof APP_ERROR_CODES)[number];

const APP_ERROR_CODE_SET: ReadonlySet<string> = new Set(APP_ERROR_CODES);

/** True when `value` is one of the console API's error codes. */
export function isAppErrorCode(value: unknown): value is TAppErrorCode {
  return typeof value === "string" && APP_ERROR_CODE_SET.has(value);
}
