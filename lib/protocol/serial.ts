import { z } from "zod";
import { ZId } from "./common";

/**
 * Serial console log of an instance, read on demand: the console asks the agent hosting the
 * instance (agents dial out, possibly from behind NAT, so the request rides the agent's socket)
 * and the agent answers with a bounded slice of the VM's serial log file.
 */

/** Largest slice one reply may carry. JSON escaping of control bytes (`\u001b` = 6 chars) keeps
 *  a worst-case reply below `MAX_FRAME_BYTES` (1 MiB). */
export const MAX_SERIAL_BYTES = 128 * 1024;

/** First protocol version whose agents answer `instance.serial.request`. */
export const SERIAL_LOG_MIN_PROTOCOL = 2;

/**
 * console → agent. Without `offset` the agent returns the last `maxBytes` bytes of the log (the
 * tail); with it, bytes from `offset` on (at most `maxBytes`), so a client can poll for what is new.
 */
export const ZSerialRequest = z.object({
  type: z.literal("instance.serial.request"),
  requestId: ZId,
  instanceId: ZId,
  maxBytes: z.number().int().min(1).max(MAX_SERIAL_BYTES),
  offset: z.number().int().min(0).optional(),
});
export type TSerialRequest = z.infer<typeof ZSerialRequest>;

/** Why an agent could not answer with data. */
export const ZSerialErrorCode = z.enum(["unknownInstance", "unreadable"]);
export type TSerialErrorCode = z.infer<typeof ZSerialErrorCode>;

/**
 * agent → console. `data` is bytes `[offset, end)` of a log that is `size` bytes long now, decoded
 * as UTF-8 (invalid bytes become U+FFFD, so it has at most as many UTF-16 units as bytes read; the
 * agent moves both ends off the middle of a multi-byte character). A log that does not exist yet (VM never started) is `size: 0, data: ""`.
 */
export const ZSerialReply = z.object({
  type: z.literal("instance.serial.reply"),
  requestId: ZId,
  instanceId: ZId,
  data: z.string().max(MAX_SERIAL_BYTES),
  offset: z.number().int().min(0),
  /** Byte offset just past `data`: pass it as the next request's `offset` to get only what is new. */
  end: z.number().int().min(0),
  size: z.number().int().min(0),
  error: z.object({ code: ZSerialErrorCode, message: z.string().max(2000) }).optional(),
});
export type TSerialReply = z.infer<typeof ZSerialReply>;

/**
 * Byte range to read for a request against a log of `size` bytes: the tail when no offset is
 * given; from `offset` otherwise (an offset past the end — the log was truncated or the VM was
 * recreated — restarts at the tail so the reader is not stuck).
 */
export function serialReadRange(opts: { size: number; maxBytes: number; offset?: number | undefined }): {
  start: number;
  length: number;
} {
  const maxBytes = Math.max(0, Math.min(opts.maxBytes, MAX_SERIAL_BYTES));
  const tailStart = Math.max(0, opts.size - maxBytes);
  const start = opts.offset === undefined || opts.offset > opts.size ? tailStart : opts.offset;
  return { start, length: Math.min(maxBytes, opts.size - start) };
}

/** Index of the last character of the escape sequence starting at `at` (an ESC). */
function escapeEnd(text: string, at: number): number {
  const kind = text[at + 1];
  if (kind === "[") {
    // CSI: parameters and intermediates, then one final byte in @..~
    let j = at + 2;
    while (j < text.length && !/[@-~]/.test(text[j] ?? "")) j++;
    return j;
  }
  if (kind === "]") {
    // OSC (window titles): up to BEL or ESC \
    for (let j = at + 2; j < text.length; j++) {
      if (text.charCodeAt(j) === 0x07) return j;
      if (text.charCodeAt(j) === 0x1b && text[j + 1] === "\\") return j + 1;
    }
    return text.length - 1;
  }
  return kind === undefined ? at : at + 1;
}

/**
 * Serial output as plain text for display: boot logs are full of colour codes and cursor moves a
 * <pre> cannot render, so escape sequences and control characters other than tab and newline are
 * dropped (CRLF becomes LF).
 */
export function serialLogText(data: string): string {
  const out: string[] = [];
  for (let i = 0; i < data.length; i++) {
    const c = data.charCodeAt(i);
    if (c === 0x1b) i = escapeEnd(data, i);
    else if (c === 0x09 || c === 0x0a || (c >= 0x20 && c !== 0x7f)) out.push(data[i] ?? "");
  }
  return out.join("");
}
