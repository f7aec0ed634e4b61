/** Why a signed action or read token was rejected. Callers map these to their own error types. */
export type TSigningErrorCode =
  | "MALFORMED"
  | "WRONG_ACTION"
  | "WRONG_ORIGIN"
  | "WRONG_CHAIN"
  | "EXPIRED"
  | "EXPIRY_TOO_FAR"
  | "BAD_SIGNATURE";

export class SigningError extends Error {
  override readonly name = "SigningError";
  readonly code: TSigningErrorCode;

  constructor(code: TSigningErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}
