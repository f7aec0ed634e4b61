import { FormationError } from "@/lib/errors";

export type TDiskFullErrno = "ENOSPC" | "EDQUOT";

/**
 * A write into the agent's data or cache directory failed because the disk under `path` is full
 * (ENOSPC) or the quota on it is spent (EDQUOT). The message says where and what the operator can
 * do; `cause` is the system error.
 */
export class DiskFullError extends FormationError<"DISK_FULL"> {
  override readonly name = "DiskFullError";
  readonly path: string;
  readonly errno: TDiskFullErrno;

  constructor(options: { path: string; errno: TDiskFullErrno; cause?: unknown }) {
    const what = options.errno === "EDQUOT" ? "disk quota is used up" : "disk is full";
    super(
      "DISK_FULL",
      `the node's ${what} (${options.path}): free space on that disk (lower images.keepRecent in ` +
        "the node agent's agent.json so the image GC keeps fewer unused images — it runs when the " +
        "agent starts and after each build — or delete instances and files this node no longer " +
        "needs), then retry",
      { cause: options.cause, details: { path: options.path, errno: options.errno } },
    );
    this.path = options.path;
    this.errno = options.errno;
  }
}

/**
 * `error` as a DiskFullError for a write under `path` when an ENOSPC or EDQUOT system error is on
 * its cause chain (libraries wrap it, e.g. the context unpacker's "not a valid tar archive"), the
 * DiskFullError itself when it already is one, and null for any other error.
 */
export function diskFullError(error: unknown, path: string): DiskFullError | null {
  let current: unknown = error;
  for (let depth = 0; current instanceof Error && depth < 8; depth += 1) {
    if (current instanceof DiskFullError) return current;
    const code: unknown = "code" in current ? current.code : undefined;
    if (code === "ENOSPC" || code === "EDQUOT")
      return new DiskFullError({ path, errno: code, cause: current });
    current = current.cause;
  }
  return null;
}

/** For `.catch(…)`: rethrows the error, as a DiskFullError when the disk under `path` is full. */
export function rethrowDiskFull(path: string): (error: unknown) => never {
  return (error: unknown) => {
    throw diskFullError(error, path) ?? error;
  };
}
