import { SigningError } from "@/lib/signing/errors";
import { AppError } from "@/server/errors";

/** Maps lib/signing's rejection reasons onto the console's error codes (the one place it happens). */
export function toAppError(error: unknown): AppError {
  if (!(error instanceof SigningError)) {
    return error instanceof AppError
      ? error
      : new AppError("INTERNAL", "Signature check failed", { cause: error });
  }
  switch (error.code) {
    case "MALFORMED":
      return new AppError("BAD_REQUEST", error.message, { cause: error });
    case "EXPIRED":
    case "EXPIRY_TOO_FAR":
      return new AppError("SIGNATURE_EXPIRED", error.message, {
        cause: error,
        details: { reason: error.code },
      });
    default:
      return new AppError("SIGNATURE_INVALID", error.message, {
        cause: error,
        details: { reason: error.code },
      });
  }
}
