import { createReadStream } from "node:fs";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGunzip } from "node:zlib";
import tar from "tar-stream";

/**
 * Reads one regular file (at most `maxBytes`) out of a build-context tar.gz, e.g. the Formfile a
 * build was made from. Returns null when the archive has no such file or it is larger.
 */
export async function readContextFile(opts: {
  tarGz: string | Uint8Array;
  path: string;
  maxBytes: number;
}): Promise<Uint8Array | null> {
  const wanted = opts.path.replace(/^\.?\//, "");
  const extract = tar.extract();
  let found: Uint8Array | null = null;
  extract.on("entry", (header, stream, next) => {
    const name = header.name.replace(/^\.?\//, "");
    if (found !== null || header.type !== "file" || name !== wanted || (header.size ?? 0) > opts.maxBytes) {
      stream.on("end", next);
      stream.resume();
      return;
    }
    const chunks: Buffer[] = [];
    stream.on("data", (c: unknown) => {
      if (Buffer.isBuffer(c)) chunks.push(c);
    });
    stream.on("end", () => {
      found = new Uint8Array(Buffer.concat(chunks));
      next();
    });
  });
  const source =
    typeof opts.tarGz === "string" ? createReadStream(opts.tarGz) : Readable.from([Buffer.from(opts.tarGz)]);
  await pipeline(source, createGunzip(), extract);
  return found;
}
