import type { RawData } from "ws";

/** The bytes of one `ws` message, however `ws` delivered it (Buffer, fragments, ArrayBuffer). */
export function wsBytes(data: RawData): Buffer {
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.isBuffer(data) ? data : Buffer.from(data);
}
