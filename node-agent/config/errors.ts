import { FormationError } from "@/lib/errors";

/** Why the agent's configuration could not be used; `code` is stable, messages are for people. */
export type TConfigErrorCode = "notFound" | "unreadable" | "invalid" | "noPassword" | "badPassword";

export class ConfigError extends FormationError<TConfigErrorCode> {
  override readonly name = "ConfigError";
  /** One line telling the operator what to do next. */
  readonly hint: string;

  constructor(options: { code: TConfigErrorCode; message: string; hint: string; cause?: unknown }) {
    super(options.code, options.message, { cause: options.cause });
    this.hint = options.hint;
  }
}
