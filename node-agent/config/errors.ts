/** Why the agent's configuration could not be used; `code` is stable, messages are for people. */
export type TConfigErrorCode = "notFound" | "unreadable" | "invalid" | "noPassword" | "badPassword";

export class ConfigError extends Error {
  override readonly name = "ConfigError";
  readonly code: TConfigErrorCode;
  /** One line telling the operator what to do next. */
  readonly hint: string;

  constructor(options: { code: TConfigErrorCode; message: string; hint: string; cause?: unknown }) {
    super(options.message, { cause: options.cause });
    this.code = options.code;
    this.hint = options.hint;
  }
}
