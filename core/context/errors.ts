import { FormationError } from "../../lib/errors";

/** Why packing or unpacking a build context failed; match on `code`, never on the message. */
export const CONTEXT_ERROR_CODES = [
  /** A COPY source does not exist in the context directory. */
  "COPY_SOURCE_MISSING",
  /** A COPY source is excluded by .formignore. */
  "COPY_SOURCE_IGNORED",
  /** A COPY source's parent path goes through a symlinked directory. */
  "COPY_SOURCE_THROUGH_SYMLINK",
  /** A symlink in the context (or archive) points outside it. */
  "SYMLINK_ESCAPE",
  /** A symlink in the context points to nothing. */
  "SYMLINK_DANGLING",
  /** A socket, FIFO or device in the context directory. */
  "UNSUPPORTED_FILE",
  /** An archive entry name is absolute, contains `..`, a backslash or NUL, or lies beneath a symlink. */
  "UNSAFE_PATH",
  /** A hard link in the archive. */
  "HARDLINK",
  /** A device node, FIFO or unknown entry type in the archive. */
  "SPECIAL_FILE",
  /** The same path appears twice in the archive (or a file where a directory is needed). */
  "DUPLICATE_ENTRY",
  "TOO_MANY_FILES",
  "TOO_LARGE",
  /** Decompressed size over compressed size exceeds the limit: likely an archive bomb. */
  "RATIO_EXCEEDED",
  /** Not a gzip-compressed tar archive, or truncated. */
  "CORRUPT_ARCHIVE",
  /** The destination exists and is not an empty directory. */
  "DEST_NOT_EMPTY",
] as const;
export type TContextErrorCode = (typeof CONTEXT_ERROR_CODES)[number];

/** A build-context failure with a machine-readable `code` and, where relevant, the offending `path`. */
export class ContextError extends FormationError<TContextErrorCode> {
  override readonly name = "ContextError";
  readonly path: string | undefined;

  constructor(code: TContextErrorCode, message: string, opts: { path?: string; cause?: unknown } = {}) {
    super(code, message, {
      cause: opts.cause,
      ...(opts.path === undefined ? {} : { details: { path: opts.path } }),
    });
    this.path = opts.path;
  }
}
