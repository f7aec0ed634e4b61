export type TBlobErrorCode = "http" | "network" | "digestMismatch" | "aborted" | "io";

/** A blob transfer failed; `url` and `status` say where, `code` says how. */
export class BlobError extends Error {
  override readonly name = "BlobError";
  readonly code: TBlobErrorCode;
  readonly url: string;
  readonly status: number | undefined;

  constructor(options: {
    code: TBlobErrorCode;
    url: string;
    message: string;
    status?: number;
    cause?: unknown;
  }) {
    super(options.message, { cause: options.cause });
    this.code = options.code;
    this.url = options.url;
    this.status = options.status;
  }
}
