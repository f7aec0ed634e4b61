import type { Command } from "commander";
import { CliError } from "./errors";

/** Options every console-facing command takes. */
export type TCommonOptions = { json?: boolean; host?: string; password?: string };

/** Adds `--json`, `--host` and (for commands that sign) `--password` to a command. */
export function withCommonOptions(command: Command, opts: { signs?: boolean } = {}): Command {
  command
    .option("--json", "print machine-readable JSON on stdout")
    .option("--host <url>", "console URL (overrides the host in your config and FORM_HOST)");
  if (opts.signs !== false)
    command.option(
      "--password <password>",
      "keystore password (else FORM_PASSWORD, else a prompt on a terminal)",
    );
  return command;
}

const FRAMES = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

/**
 * Human text or JSON on stdout; notes and progress on stderr. The spinner only runs when stderr is
 * a terminal, so scripts and logs never see control characters.
 */
export class Output {
  readonly json: boolean;
  #timer: NodeJS.Timeout | null = null;
  #text = "";
  #frame = 0;

  constructor(opts: { json?: boolean }) {
    this.json = opts.json === true;
  }

  /** The command's result: JSON (with --json) or the human text. */
  result(data: unknown, human: string): void {
    this.stopProgress();
    if (this.json) process.stdout.write(`${JSON.stringify(data, null, 2)}\n`);
    else process.stdout.write(human.endsWith("\n") ? human : `${human}\n`);
  }

  /** A line for humans (stdout without --json, stderr with it, so JSON stays parseable). */
  line(text: string): void {
    const hadSpinner = this.#timer !== null;
    if (hadSpinner) process.stderr.write("\r\x1b[K");
    (this.json ? process.stderr : process.stdout).write(`${text}\n`);
    if (hadSpinner) this.#draw();
  }

  note(text: string): void {
    this.line(text);
  }

  /** Shows (or updates) a phase line with a spinner on a terminal; silent otherwise. */
  progress(text: string): void {
    this.#text = text;
    if (!process.stderr.isTTY) return;
    if (this.#timer === null) this.#timer = setInterval(() => this.#draw(), 100);
    this.#draw();
  }

  stopProgress(): void {
    if (this.#timer === null) return;
    clearInterval(this.#timer);
    this.#timer = null;
    process.stderr.write("\r\x1b[K");
  }

  #draw(): void {
    this.#frame = (this.#frame + 1) % FRAMES.length;
    process.stderr.write(`\r\x1b[K${FRAMES[this.#frame]} ${this.#text}`);
  }

  /** Reports a failure: `form: message` on stderr (+ a JSON error object on stdout with --json). */
  fail(error: CliError): void {
    this.stopProgress();
    process.stderr.write(`form: ${error.message}\n`);
    if (this.json)
      process.stdout.write(
        `${JSON.stringify({ error: { message: error.message, kind: error.kind, appCode: error.appCode } }, null, 2)}\n`,
      );
    process.exitCode = error.exitCode;
  }
}

/** Wraps a command action: errors become messages and exit codes (1 user, 2 remote). */
export function runAction<TArgs extends unknown[]>(
  fn: (out: Output, ...args: TArgs) => Promise<void>,
): (...args: TArgs) => Promise<void> {
  return async (...args: TArgs) => {
    // commander passes (…arguments, options, command); options are the second-to-last argument.
    const opts = args.at(-2) as TCommonOptions | undefined;
    const out = new Output({ json: opts?.json });
    try {
      await fn(out, ...args);
    } catch (error) {
      out.fail(error instanceof CliError ? error : new CliError("remote", String(error), { cause: error }));
    } finally {
      out.stopProgress();
    }
  };
}
