import { connectWithin } from "@/core/net/tcp-connect";

/** A SYN the booting guest drops is retried at once rather than by the kernel a second later. */
const CONNECT_TIMEOUT_MS = 500;
/** Once connected, sshd sends its banner after its per-connection re-exec: slow under TCG. */
const BANNER_TIMEOUT_MS = 10_000;

/**
 * Wait until an SSH server answers on `host:port` (its banner starts with `SSH-`), polling with a
 * deadline. A bare TCP accept is not enough: QEMU's user-net or a half-booted guest can accept and
 * then close, while a banner proves sshd itself is up.
 */
export async function waitForSshBanner(options: {
  host: string;
  port?: number;
  timeoutMs: number;
  signal: AbortSignal;
  intervalMs?: number;
}): Promise<string> {
  const deadline = Date.now() + options.timeoutMs;
  let lastError = "no attempt made";
  while (Date.now() < deadline) {
    options.signal.throwIfAborted();
    try {
      return await readBanner({ host: options.host, port: options.port ?? 22, signal: options.signal });
    } catch (error) {
      options.signal.throwIfAborted();
      lastError = error instanceof Error ? error.message : String(error);
    }
    await abortableDelay(options.intervalMs ?? 200, options.signal);
  }
  throw new Error(
    `no SSH banner from ${options.host}:${options.port ?? 22} within ${options.timeoutMs} ms (last: ${lastError})`,
  );
}

async function readBanner(options: { host: string; port: number; signal: AbortSignal }): Promise<string> {
  const socket = await connectWithin({ ...options, timeoutMs: CONNECT_TIMEOUT_MS });
  return new Promise((resolve, reject) => {
    let data = "";
    const fail = (message: string) => {
      socket.destroy();
      reject(new Error(message));
    };
    socket.setTimeout(BANNER_TIMEOUT_MS, () => fail("timed out waiting for the banner"));
    socket.on("data", (chunk) => {
      data += chunk.toString("latin1");
      const newline = data.indexOf("\n");
      if (newline < 0 && data.length < 256) return;
      socket.destroy();
      const line = data.slice(0, newline < 0 ? undefined : newline).trim();
      if (line.startsWith("SSH-")) resolve(line);
      else reject(new Error(`not an SSH banner: ${JSON.stringify(line.slice(0, 80))}`));
    });
    socket.on("error", (error) => fail(error.message));
    socket.on("end", () => fail("closed before sending a banner"));
  });
}

function abortableDelay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
