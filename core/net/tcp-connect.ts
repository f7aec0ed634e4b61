import { connect, type Socket } from "node:net";

/** No TCP connection within the timeout (the other errors are the socket's own, e.g. ECONNREFUSED). */
export class TcpConnectTimeoutError extends Error {
  constructor(host: string, port: number, timeoutMs: number) {
    super(`no TCP connection to ${host}:${port} within ${timeoutMs} ms`);
    this.name = "TcpConnectTimeoutError";
  }
}

/**
 * Opens a TCP connection, giving up after `timeoutMs`. Readiness probes use a short timeout and
 * retry: a SYN sent while the guest is still booting (no address yet) is dropped without an
 * answer, and the kernel's retransmissions (1 s, then 3 s) would make a long-timeout probe notice
 * a listening server up to seconds late.
 */
export function connectWithin(opts: {
  host: string;
  port: number;
  timeoutMs: number;
  signal?: AbortSignal | undefined;
  /** Source address (e.g. a formnet address whose routes the destination needs). */
  localAddress?: string | undefined;
}): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({
      host: opts.host,
      port: opts.port,
      ...(opts.signal ? { signal: opts.signal } : {}),
      ...(opts.localAddress ? { localAddress: opts.localAddress } : {}),
    });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new TcpConnectTimeoutError(opts.host, opts.port, opts.timeoutMs));
    }, opts.timeoutMs);
    socket.once("connect", () => {
      clearTimeout(timer);
      socket.removeAllListeners("error");
      resolve(socket);
    });
    socket.once("error", (error) => {
      clearTimeout(timer);
      socket.destroy();
      reject(error);
    });
  });
}

/** Polls until `host:port` accepts a TCP connection (closed at once) or the deadline passes. */
export async function waitForTcp(opts: {
  host: string;
  port: number;
  deadline: number;
  attemptMs?: number;
  intervalMs?: number;
}): Promise<boolean> {
  while (Date.now() < opts.deadline) {
    const attemptMs = Math.min(opts.attemptMs ?? 500, Math.max(1, opts.deadline - Date.now()));
    try {
      (await connectWithin({ host: opts.host, port: opts.port, timeoutMs: attemptMs })).destroy();
      return true;
    } catch {
      await new Promise((r) => setTimeout(r, opts.intervalMs ?? 100));
    }
  }
  return false;
}
