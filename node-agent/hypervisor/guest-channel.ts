import { closeSync, constants, openSync, writeSync } from "node:fs";
import { rm } from "node:fs/promises";
import { Socket } from "node:net";
import { FormationError } from "@/lib/errors";
import { run } from "../host/exec";
import { identityMessage, parseHookReply, type TIdentity } from "./identity-hook";

/**
 * Host side of a VM's identity channel: QEMU's `pipe` chardev on two FIFOs, `<base>.in` (host →
 * guest) and `<base>.out` (guest → host). QEMU holds both open from its start, so the guest's port
 * is always connected and the agent may come and go (an agent restart loses nothing but lines
 * nobody waited for).
 */
export class GuestChannelError extends FormationError<"GUEST_CHANNEL"> {
  override readonly name = "GuestChannelError";
  constructor(message: string, options: { cause?: unknown } = {}) {
    super("GUEST_CHANNEL", message, options);
  }
}

/** Longest line the agent reads from a guest (the hook's lines are < 100 bytes). */
const MAX_LINE = 64 * 1024;

/** Makes the two FIFOs of a VM's channel (owned by root, opened by QEMU before it drops root). */
export async function createGuestChannel(base: string): Promise<void> {
  await rm(`${base}.in`, { force: true });
  await rm(`${base}.out`, { force: true });
  await run(["mkfifo", "-m", "0600", `${base}.in`, `${base}.out`]);
}

/** Waits for a line from the guest that `match` accepts; rejects after `timeoutMs`. */
function readLine<T>(
  base: string,
  match: (line: string) => T | null,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<T> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(new GuestChannelError("stopped waiting for the guest"));
      return;
    }
    let fd: number;
    try {
      fd = openSync(`${base}.out`, constants.O_RDONLY | constants.O_NONBLOCK);
    } catch (err) {
      reject(new GuestChannelError(`cannot open ${base}.out: ${String(err)}`, { cause: err }));
      return;
    }
    const sock = new Socket({ fd, readable: true, writable: false });
    let buf = "";
    const onAbort = () => done(new GuestChannelError("stopped waiting for the guest"));
    const done = (err: Error | null, value?: T) => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      sock.destroy();
      if (err) reject(err);
      else resolve(value as T);
    };
    const timer = setTimeout(
      () => done(new GuestChannelError(`no answer from the guest's identity hook within ${timeoutMs} ms`)),
      timeoutMs,
    );
    signal?.addEventListener("abort", onAbort, { once: true });
    sock.setEncoding("utf8");
    sock.on("error", (err) => done(new GuestChannelError(`reading ${base}.out: ${err.message}`)));
    // QEMU holds the FIFO open for writing while it runs: an end means the VM is gone.
    sock.on("end", () => done(new GuestChannelError(`the VM's identity channel closed (${base}.out)`)));
    sock.on("data", (chunk: string) => {
      buf += chunk;
      // The guest writes what it likes: a line without an end must not grow the agent's memory.
      if (buf.length > MAX_LINE && buf.lastIndexOf("\n") < buf.length - MAX_LINE)
        return done(new GuestChannelError(`the guest sent a line longer than ${MAX_LINE} bytes`));
      let nl = buf.indexOf("\n");
      while (nl >= 0) {
        const value = match(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
        if (value !== null) return done(null, value);
        nl = buf.indexOf("\n");
      }
    });
  });
}

/** Resolves once the guest's hook says `ready` (its boot has finished). */
export function waitGuestReady(base: string, timeoutMs: number, signal?: AbortSignal): Promise<void> {
  return readLine(base, (line) => (line.trim() === "ready" ? true : null), timeoutMs, signal).then(
    () => undefined,
  );
}

/** Sends one identity message and waits for the hook's answer; throws if it failed or is silent. */
export async function sendIdentity(
  base: string,
  identity: TIdentity,
  timeoutMs: number,
): Promise<{ machineId: string; reseeded: boolean }> {
  const reply = readLine(base, parseHookReply, timeoutMs);
  // QEMU holds the FIFO open for reading, so a non-blocking open for writing succeeds at once.
  const fd = openSync(`${base}.in`, constants.O_WRONLY | constants.O_NONBLOCK);
  try {
    writeSync(fd, identityMessage(identity));
  } finally {
    closeSync(fd);
  }
  const answer = await reply;
  if (!answer.ok) throw new GuestChannelError(`the guest's identity hook failed: ${answer.error}`);
  return { machineId: answer.machineId, reseeded: answer.reseeded };
}
