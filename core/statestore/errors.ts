import { FormationError } from "../../lib/errors";
import type { TRejectCode } from "../../lib/statestore/authorize";

export type TStoreErrorCode = TRejectCode | "closed";

/** Error thrown by the store's API; match on `code`, never on the message. */
export class StateStoreError extends FormationError<TStoreErrorCode> {
  override readonly name = "StateStoreError";

  constructor(code: TStoreErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(code, message, options);
  }
}
