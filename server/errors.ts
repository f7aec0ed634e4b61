import type { TRPC_ERROR_CODE_KEY } from "@trpc/server/rpc";

/**
 * The console's one error type. Services throw `AppError(code, message)`; the tRPC error
 * formatter and the plain HTTP handlers map the code ONCE (tables below) and expose it to clients
 * as `appCode`, so clients match on codes, never on messages.
 *
 * | code                | meaning                                                     | tRPC                  | HTTP |
 * |---------------------|-------------------------------------------------------------|-----------------------|------|
 * | BAD_REQUEST         | input is malformed or inconsistent                          | BAD_REQUEST           | 400  |
 * | UNAUTHORIZED        | no valid session or signature: sign in / sign the request   | UNAUTHORIZED          | 401  |
 * | FORBIDDEN           | authenticated, but not allowed to do this                   | FORBIDDEN             | 403  |
 * | NOT_FOUND           | the thing does not exist (or is not visible to the caller)  | NOT_FOUND             | 404  |
 * | CONFLICT            | the request conflicts with current state                    | CONFLICT              | 409  |
 * | SIGNATURE_INVALID   | signature does not match signer / payload / domain          | UNAUTHORIZED          | 401  |
 * | SIGNATURE_EXPIRED   | the signed request expired (or expires too far ahead)       | UNAUTHORIZED          | 401  |
 * | NONCE_REUSED        | the nonce was already consumed: replay                      | CONFLICT              | 409  |
 * | PRECONDITION_FAILED | state does not allow this yet (e.g. build not finished)     | PRECONDITION_FAILED   | 412  |
 * | PAYLOAD_TOO_LARGE   | upload or input over the limit                              | PAYLOAD_TOO_LARGE     | 413  |
 * | RATE_LIMITED        | too many requests                                           | TOO_MANY_REQUESTS     | 429  |
 * | UNAVAILABLE         | a dependency (chain, node, database) is unreachable         | INTERNAL_SERVER_ERROR | 503  |
 * | INTERNAL            | a bug; details are logged, not returned                     | INTERNAL_SERVER_ERROR | 500  |
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
  "UNAVAILABLE",
  "INTERNAL",
] as const;

export type TAppErrorCode = (typeof APP_ERROR_CODES)[number];

export const APP_ERROR_TRPC: Record<TAppErrorCode, TRPC_ERROR_CODE_KEY> = {
  BAD_REQUEST: "BAD_REQUEST",
  UNAUTHORIZED: "UNAUTHORIZED",
  FORBIDDEN: "FORBIDDEN",
  NOT_FOUND: "NOT_FOUND",
  CONFLICT: "CONFLICT",
  SIGNATURE_INVALID: "UNAUTHORIZED",
  SIGNATURE_EXPIRED: "UNAUTHORIZED",
  NONCE_REUSED: "CONFLICT",
  PRECONDITION_FAILED: "PRECONDITION_FAILED",
  PAYLOAD_TOO_LARGE: "PAYLOAD_TOO_LARGE",
  RATE_LIMITED: "TOO_MANY_REQUESTS",
  UNAVAILABLE: "INTERNAL_SERVER_ERROR",
  INTERNAL: "INTERNAL_SERVER_ERROR",
};

export const APP_ERROR_HTTP: Record<TAppErrorCode, number> = {
  BAD_REQUEST: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  SIGNATURE_INVALID: 401,
  SIGNATURE_EXPIRED: 401,
  NONCE_REUSED: 409,
  PRECONDITION_FAILED: 412,
  PAYLOAD_TOO_LARGE: 413,
  RATE_LIMITED: 429,
  UNAVAILABLE: 503,
  INTERNAL: 500,
};

export type TAppErrorOptions = { details?: Record<string, unknown>; cause?: unknown };

export class AppError extends Error {
  override readonly name = "AppError";
  readonly code: TAppErrorCode;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: TAppErrorCode, message: string, options: TAppErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = options.details;
  }

  get httpStatus(): number {
    return APP_ERROR_HTTP[this.code];
  }

  get trpcCode(): TRPC_ERROR_CODE_KEY {
    return APP_ERROR_TRPC[this.code];
  }
}

/** True when `error` is an AppError, optionally with one of `codes`. */
export function isAppError(error: unknown, ...codes: TAppErrorCode[]): error is AppError {
  return error instanceof AppError && (codes.length === 0 || codes.includes(error.code));
}

/** Finds the first AppError in a cause chain (tRPC wraps thrown errors in TRPCError). */
export function findAppError(error: unknown): AppError | undefined {
  let current: unknown = error;
  for (let depth = 0; current instanceof Error && depth < 8; depth++) {
    if (current instanceof AppError) return current;
    current = current.cause;
  }
  return undefined;
}
