import { gzipSync } from "node:zlib";
import tar from "tar-stream";

/** Test helper: builds a tar.gz from raw headers, including ones `packContext` would never write. */
export async function makeArchive(
  entries: Array<{ header: Partial<tar.Header> & { name: string }; body?: string | Uint8Array }>,
): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Uint8Array[] = [];
  pack.on("data", (chunk: unknown) => {
    if (chunk instanceof Uint8Array) chunks.push(chunk);
  });
  const ended = new Promise<void>((resolve, reject) => {
    pack.on("end", resolve);
    pack.on("error", reject);
  });
  for (const { header, body } of entries) {
    await new Promise<void>((resolve, reject) => {
      const done = (error?: Error | null): void => (error ? reject(error) : resolve());
      if (body === undefined) pack.entry(header, done);
      else pack.entry(header, body, done);
    });
  }
  pack.finalize();
  await ended;
  return gzipSync(Buffer.concat(chunks));
}
