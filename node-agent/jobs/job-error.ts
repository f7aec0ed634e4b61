import { FormationError } from "@/lib/errors";

/**
 * A job failed for a reason the console should show the user. `line` points into the Formfile for
 * build failures. Executors throw this (or any Error; the runner derives the reason from its cause
 * chain).
 */
export class JobFailure extends FormationError<"JOB_FAILED"> {
  override readonly name = "JobFailure";
  readonly line: number | undefined;

  constructor(options: { message: string; line?: number; cause?: unknown }) {
    super("JOB_FAILED", options.message, {
      cause: options.cause,
      ...(options.line === undefined ? {} : { details: { line: options.line } }),
    });
    this.line = options.line;
  }
}

const MAX_REASON = 3_900;

/**
 * Turn any thrown value into a `job.fail` reason: the messages of the whole cause chain (which
 * carry the failed command line and exit code) plus the first Formfile line found on the chain.
 */
export function describeFailure(error: unknown): { reason: string; line?: number } {
  const messages: string[] = [];
  let line: number | undefined;
  let current: unknown = error;
  for (let depth = 0; current !== undefined && depth < 8; depth += 1) {
    if (current instanceof Error) {
      if (!messages.includes(current.message)) messages.push(current.message);
      const candidate: unknown = "line" in current ? current.line : undefined;
      if (
        line === undefined &&
        typeof candidate === "number" &&
        Number.isInteger(candidate) &&
        candidate > 0
      ) {
        line = candidate;
      }
      current = current.cause;
    } else {
      messages.push(String(current));
      current = undefined;
    }
  }
  const reason = (messages.join(": caused by: ") || "unknown error").slice(0, MAX_REASON);
  return line === undefined ? { reason } : { reason, line };
}
