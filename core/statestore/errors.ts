import type { TRejectCode } from "../../lib/statestore/authorize";

export type TStoreErrorCode = TRejectCode | "closed";

/** Error thrown by the store's API; match on `code`, never on the message. */
export class StateStoreError extends Error {
  readonly code: TStoreErrorCode;

  constructor(code: TStoreErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "StateStoreError";
    this.code = code;
  }
}
