import type { IncomingMessage, ServerResponse } from "node:http";

export type TBodyDeadline = {
  /** True once the deadline passed and the request was answered (or cut off). */
  readonly expired: boolean;
};

function hasBody(req: IncomingMessage): boolean {
  if (req.complete) return false;
  const length = req.headers["content-length"];
  return req.headers["transfer-encoding"] !== undefined || (length !== undefined && length !== "0");
}

/**
 * Gives a request's body `totalMs` to arrive completely, and (when `idleMs` is set) at most
 * `idleMs` between two chunks. A body that misses either is answered by `answer` (a 408) and its
 * connection closed, so a client that never finishes its upload cannot hold a socket and a
 * handler forever. Node's own `requestTimeout` is off (it would also cut long blob uploads),
 * hence a deadline per kind of request.
 */
export function guardBody(opts: {
  req: IncomingMessage;
  res: ServerResponse;
  totalMs: number;
  idleMs?: number;
  answer: (res: ServerResponse, reason: { waitedMs: number; idle: boolean }) => void;
}): TBodyDeadline {
  const { req, res } = opts;
  const state = { expired: false };
  if (!hasBody(req)) return state;
  const started = Date.now();
  // Captured now: Node sets `req.socket` to null once the response released the connection, and
  // `done` still runs after that (on the request's close).
  const socket = req.socket;
  let idleTimer: NodeJS.Timeout | undefined;

  const expire = (idle: boolean) => {
    if (state.expired || req.complete) return;
    state.expired = true;
    done();
    if (res.headersSent) {
      socket.destroy();
      return;
    }
    res.shouldKeepAlive = false;
    res.once("finish", () => socket.destroy());
    opts.answer(res, { waitedMs: Date.now() - started, idle });
  };
  const totalTimer = setTimeout(() => expire(false), opts.totalMs);
  const idleMs = opts.idleMs;
  const armIdle =
    idleMs === undefined
      ? () => undefined
      : () => {
          clearTimeout(idleTimer);
          idleTimer = setTimeout(() => expire(true), idleMs);
        };
  const done = () => {
    clearTimeout(totalTimer);
    clearTimeout(idleTimer);
    socket.off("data", armIdle);
  };
  armIdle();
  // Listening to "data" would switch the stream to flowing mode and steal the body from the
  // handler; the socket sees every chunk without consuming the request stream.
  if (idleMs !== undefined) socket.on("data", armIdle);
  req.once("end", done);
  req.once("close", done);
  return state;
}
