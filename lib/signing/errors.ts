import { FormationError } from "../errors";

/** Why a signed action or read token was rejected. Callers map these to their own error types. */
export type TSigningErrorCode =
  | "MALFORMED"
  | "WRONG_ACTION"
  | "WRONG_ORIGIN"
  | "WRONG_CHAIN"
  | "EXPIRED"
  | "EXPIRY_TOO_FAR"
  | "BAD_SIGNATURE";

export class SigningError extends FormationError<TSigningErrorCode> {
  override readonly name = "SigningError";

  constructor(code: TSigningErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(code, message, options);
  }
}
