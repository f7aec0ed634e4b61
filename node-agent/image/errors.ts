import { FormationError } from "@/lib/errors";
import { CommandAbortedError, CommandError } from "../host/exec";

export type TImageBuildErrorCode =
  | "STEP_FAILED"
  | "BAD_FORMFILE"
  | "BASE_FAILED"
  | "IMAGE_FAILED"
  /** A per-build limit (time, memory, disk) was hit: the message names it. */
  | "LIMIT_EXCEEDED"
  | "CANCELLED";

/**
 * A build that failed. `line` is the Formfile line of the failing step (null for whole-image
 * phases), `command` the command line that failed and `exitCode` its status, so the console can
 * point at the instruction and say what to change.
 */
export class ImageBuildError extends FormationError<TImageBuildErrorCode> {
  override readonly name = "ImageBuildError";
  readonly line: number | null;
  readonly command: string | null;
  readonly exitCode: number | null;
  constructor(opts: {
    code: TImageBuildErrorCode;
    message: string;
    line?: number | null;
    command?: string | null;
    exitCode?: number | null;
    cause?: unknown;
  }) {
    super(opts.code, opts.message, {
      cause: opts.cause,
      details: { line: opts.line ?? null, command: opts.command ?? null, exitCode: opts.exitCode ?? null },
    });
    this.line = opts.line ?? null;
    this.command = opts.command ?? null;
    this.exitCode = opts.exitCode ?? null;
  }
}

/** Wraps a failure of one Formfile step (or phase) into an ImageBuildError with line and exit code. */
export function stepError(
  err: unknown,
  opts: { what: string; line: number | null; command: string },
): ImageBuildError {
  if (err instanceof ImageBuildError) return err;
  if (err instanceof CommandAbortedError) {
    return new ImageBuildError({
      code: "CANCELLED",
      message: "build cancelled",
      line: opts.line,
      command: opts.command,
      cause: err,
    });
  }
  const exitCode = err instanceof CommandError ? err.exitCode : null;
  const where = opts.line === null ? "" : ` (Formfile line ${opts.line})`;
  const status = exitCode === null ? "" : ` with exit code ${exitCode}`;
  const reason = err instanceof Error && !(err instanceof CommandError) ? `: ${err.message}` : "";
  return new ImageBuildError({
    code: "STEP_FAILED",
    message: `${opts.what}${where} failed${status}: ${opts.command}${reason}`,
    line: opts.line,
    command: opts.command,
    exitCode,
    cause: err,
  });
}
