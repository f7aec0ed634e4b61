import { TRPCClientError } from "@trpc/client";
import { isAppErrorCode, type TAppErrorCode } from "@/lib/errors";

/** The console's `appCode` of a failed tRPC call (lib/errors.ts), or null for other failures. */
export function appCodeOf(error: unknown): TAppErrorCode | null {
  if (!(error instanceof TRPCClientError)) return null;
  const data: unknown = error.data;
  return typeof data === "object" && data !== null && "appCode" in data && isAppErrorCode(data.appCode)
    ? data.appCode
    : null;
}

/** Answers that will not change by asking again: do not retry them. */
const FINAL: ReadonlySet<TAppErrorCode> = new Set<TAppErrorCode>([
  "BAD_REQUEST",
  "UNAUTHORIZED",
  "FORBIDDEN",
  "NOT_FOUND",
  "PRECONDITION_FAILED",
]);

/** React Query's retry rule: one retry for network and server trouble, none for a definite answer. */
export function shouldRetry(failureCount: number, error: unknown): boolean {
  const code = appCodeOf(error);
  return !(code !== null && FINAL.has(code)) && failureCount < 1;
}

/** The first input problem of a BAD_REQUEST, in words (never the raw validation JSON). */
export function inputProblem(error: unknown): string | null {
  if (!(error instanceof TRPCClientError)) return null;
  const data: unknown = error.data;
  if (typeof data !== "object" || data === null || !("zodError" in data)) return null;
  const zod = data.zodError;
  if (typeof zod !== "object" || zod === null) return null;
  const lists = [
    ...("formErrors" in zod && Array.isArray(zod.formErrors) ? [zod.formErrors] : []),
    ...("fieldErrors" in zod && typeof zod.fieldErrors === "object" && zod.fieldErrors !== null
      ? Object.values(zod.fieldErrors)
      : []),
  ];
  for (const list of lists) {
    if (Array.isArray(list) && typeof list[0] === "string") return list[0];
  }
  return null;
}
