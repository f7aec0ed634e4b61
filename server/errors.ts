import type { TRPC_ERROR_CODE_KEY } from "@trpc/server/rpc";
import { APP_ERROR_CODES, FormationError, type TAppErrorCode, type TErrorDetails } from "@/lib/errors";
import { FormnetExhaustedError } from "@/lib/formnet/allocate";

export { APP_ERROR_CODES, type TAppErrorCode };

/**
 * The console's one error type, a FormationError with one of the API's codes (lib/errors.ts, where
 * each code's meaning is listed). Services throw `AppError(code, message)`; the tRPC error
 * formatter and the plain HTTP handlers map the code ONCE (tables below) and expose it to clients
 * as `appCode`, so clients match on codes, never on messages.
 *
 * | code                | tRPC                  | HTTP |
 * |---------------------|-----------------------|------|
 * | BAD_REQUEST         | BAD_REQUEST           | 400  |
 * | UNAUTHORIZED        | UNAUTHORIZED          | 401  |
 * | FORBIDDEN           | FORBIDDEN             | 403  |
 * | NOT_FOUND           | NOT_FOUND             | 404  |
 * | CONFLICT            | CONFLICT              | 409  |
 * | SIGNATURE_INVALID   | UNAUTHORIZED          | 401  |
 * | SIGNATURE_EXPIRED   | UNAUTHORIZED          | 401  |
 * | NONCE_REUSED        | CONFLICT              | 409  |
 * | PRECONDITION_FAILED | PRECONDITION_FAILED   | 412  |
 * | PAYLOAD_TOO_LARGE   | PAYLOAD_TOO_LARGE     | 413  |
 * | RATE_LIMITED        | TOO_MANY_REQUESTS     | 429  |
 * | RESOURCE_EXHAUSTED  | SERVICE_UNAVAILABLE   | 503  |
 * | UNAVAILABLE         | INTERNAL_SERVER_ERROR | 503  |
 * | INTERNAL            | INTERNAL_SERVER_ERROR | 500  |
 */
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
  RESOURCE_EXHAUSTED: "SERVICE_UNAVAILABLE",
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
  RESOURCE_EXHAUSTED: 503,
  UNAVAILABLE: 503,
  INTERNAL: 500,
};

export type TAppErrorOptions = { details?: TErrorDetails; cause?: unknown };

export class AppError extends FormationError<TAppErrorCode> {
  override readonly name = "AppError";

  constructor(code: TAppErrorCode, message: string, options: TAppErrorOptions = {}) {
    super(code, message, options);
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

/**
 * The AppError a failure answers with: the first AppError in its cause chain (tRPC wraps thrown
 * errors in TRPCError), or else the answer to a shared-code error the user can act on
 * (`answerFor`); undefined means a bug, answered as INTERNAL.
 */
export function findAppError(error: unknown): AppError | undefined {
  let answer: AppError | undefined;
  let current: unknown = error;
  for (let depth = 0; current instanceof Error && depth < 8; depth++) {
    if (current instanceof AppError) return current;
    if (answer === undefined && current instanceof FormationError) answer = answerFor(current);
    current = current.cause;
  }
  return answer;
}

/** lib/ and core/ errors that reach the API, as what the user is told; the rest are bugs (INTERNAL). */
function answerFor(error: FormationError): AppError | undefined {
  if (error instanceof FormnetExhaustedError) {
    return new AppError(
      "RESOURCE_EXHAUSTED",
      `No formnet address is free in ${error.cidr} (${error.used} taken or reserved). ` +
        "Delete instances or formnet devices you no longer need, or ask the console's operator to " +
        "configure a larger block (FORMATION_FORMNET_CIDR).",
      { cause: error, details: { cidr: error.cidr, used: error.used } },
    );
  }
  return undefined;
}
