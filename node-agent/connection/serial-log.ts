import { constants } from "node:fs";
import { open } from "node:fs/promises";
import type { Logger } from "@/core/log";
import { serialReadRange, type TSerialReply, type TSerialRequest } from "@/lib/protocol";

export type TSerialSlice = { data: string; offset: number; end: number; size: number };

/** The sub-range `[start, end)` of `bytes` that neither begins nor ends inside a UTF-8 sequence. */
function utf8Trim(bytes: Uint8Array, opts: { exactStart: boolean }) {
  let start = 0;
  // A tail read can start on continuation bytes (10xxxxxx) of a character cut in half.
  if (!opts.exactStart) {
    while (start < bytes.length && start < 3 && ((bytes[start] ?? 0) & 0xc0) === 0x80) start++;
  }
  let end = bytes.length;
  // Leave an incomplete trailing sequence for the next read (the VM may be writing it right now).
  for (let back = 1; back <= 3 && end - back >= start; back++) {
    const b = bytes[end - back] ?? 0;
    if ((b & 0xc0) === 0x80) continue;
    const need = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
    if (need > back) end -= back;
    break;
  }
  return { start, end };
}

/**
 * Reads a bounded slice of a serial log: the tail of at most `maxBytes` bytes, or from `offset`
 * (see `serialReadRange`). A log that does not exist yet reads as empty. The path must come from
 * the hypervisor's own record of a VM, never from a message; symlinks are not followed and only
 * regular files are read, so a guest cannot redirect the agent to another file.
 */
export async function readSerialSlice(opts: {
  path: string;
  maxBytes: number;
  offset?: number | undefined;
}): Promise<TSerialSlice> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(opts.path, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return { data: "", offset: 0, end: 0, size: 0 };
    throw error;
  }
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) throw new Error(`${opts.path} is not a regular file`);
    const range = serialReadRange({ size: stat.size, maxBytes: opts.maxBytes, offset: opts.offset });
    const buffer = new Uint8Array(range.length);
    let read = 0;
    while (read < range.length) {
      const r = await handle.read(buffer, read, range.length - read, range.start + read);
      if (r.bytesRead === 0) break; // truncated while reading
      read += r.bytesRead;
    }
    const bytes = buffer.subarray(0, read);
    // An explicit offset is a previous `end` (a character boundary); a tail start is arbitrary.
    const trim = utf8Trim(bytes, { exactStart: range.start === 0 || range.start === opts.offset });
    const data = new TextDecoder("utf-8").decode(bytes.subarray(trim.start, trim.end));
    return { data, offset: range.start + trim.start, end: range.start + trim.end, size: stat.size };
  } finally {
    await handle.close();
  }
}

/**
 * Answers `instance.serial.request`: only for an instance this agent hosts (looked up in the
 * hypervisor), with the log path from the hypervisor's record. Always replies, so the console's
 * request never waits for its timeout because of an error here.
 */
export async function answerSerialRequest(opts: {
  request: TSerialRequest;
  /** The hosted VM's serial log path, or null when this agent does not host the instance. */
  lookup: (instanceId: string) => Promise<{ serialLogPath: string } | null>;
  send: (reply: TSerialReply) => boolean;
  log: Logger;
}): Promise<void> {
  const { request } = opts;
  const base = {
    type: "instance.serial.reply" as const,
    requestId: request.requestId,
    instanceId: request.instanceId,
  };
  const empty = { data: "", offset: 0, end: 0, size: 0 };
  let reply: TSerialReply;
  try {
    const vm = await opts.lookup(request.instanceId);
    if (!vm) {
      reply = {
        ...base,
        ...empty,
        error: {
          code: "unknownInstance",
          message: `instance ${request.instanceId} is not hosted on this node`,
        },
      };
    } else {
      const slice = await readSerialSlice({
        path: vm.serialLogPath,
        maxBytes: request.maxBytes,
        offset: request.offset,
      });
      reply = { ...base, ...slice };
    }
  } catch (error) {
    opts.log.warn({ err: error, instanceId: request.instanceId }, "cannot read serial log");
    const reason = error instanceof Error ? error.message : String(error);
    reply = {
      ...base,
      ...empty,
      error: { code: "unreadable", message: `cannot read the serial log: ${reason}`.slice(0, 2000) },
    };
  }
  if (!opts.send(reply))
    opts.log.debug({ instanceId: request.instanceId }, "serial reply dropped: not connected");
}
