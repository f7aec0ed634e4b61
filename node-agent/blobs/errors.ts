import { FormationError } from "@/lib/errors";

/** `invalid`: the bytes verified but may not be used (an image header that reaches outside its blobs). */
export type TBlobErrorCode = "http" | "network" | "digestMismatch" | "aborted" | "io" | "invalid";

/** A blob transfer failed; `url` and `status` say where, `code` says how. */
export class BlobError extends FormationError<TBlobErrorCode> {
  override readonly name = "BlobError";
  readonly url: string;
  readonly status: number | undefined;

  constructor(options: {
    code: TBlobErrorCode;
    url: string;
    message: string;
    status?: number;
    cause?: unknown;
  }) {
    super(options.code, options.message, {
      cause: options.cause,
      details: { url: options.url, status: options.status ?? null },
    });
    this.url = options.url;
    this.status = options.status;
  }
}
