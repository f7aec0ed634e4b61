import type { IncomingMessage, ServerResponse } from "node:http";
import { readCookie, SESSION_COOKIE } from "@/server/api/trpc";
import { AppError } from "@/server/errors";
import { guardBody, type TBodyDeadline } from "./body-deadline";
import type { TCaller } from "./caller";
import type { TConsoleRuntime } from "./console-runtime";
import { rateLimitedError, type TLimitDecision } from "./rate-limit";
import { sendError, sendJson, sendTrpcAppError, sendTrpcError } from "./send";

/**
 * What a request must pass before it reaches tRPC or a plain HTTP route (docs/console.md,
 * "Request limits"): body deadline, batch size, JSON-only same-origin mutations, rate limits per
 * IP and per identity. Each check answers the request itself when it fails, with what to do next.
 */

/** The client's address as this server sees it (no proxy headers are trusted). */
export function clientIp(req: IncomingMessage): string {
  return req.socket.remoteAddress ?? "unknown";
}

function header(req: IncomingMessage, name: string): string | null {
  const value = req.headers[name];
  if (value === undefined) return null;
  return Array.isArray(value) ? value.join(", ") : value;
}

function denied(decision: TLimitDecision): AppError | null {
  return decision.allowed ? null : rateLimitedError(decision);
}

/** The procedure paths of a tRPC request (`a.b,c.d` when batched). */
export function trpcPaths(url: URL): string[] {
  const raw = url.pathname.slice("/api/trpc/".length);
  let path = raw;
  try {
    path = decodeURIComponent(raw);
  } catch {
    // Left encoded: tRPC answers the unknown procedure itself.
  }
  return url.searchParams.get("batch") === "1" ? path.split(",") : [path];
}

function isJson(contentType: string | null): boolean {
  return contentType !== null && /^application\/json\s*(;|$)/i.test(contentType);
}

/** Checks a tRPC request. Returns the resolved caller, or null when the request was answered. */
export async function admitTrpc(opts: {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  runtime: TConsoleRuntime;
  deadline: TBodyDeadline;
}): Promise<TCaller | null> {
  const { req, res, url, runtime } = opts;
  const limits = runtime.env.limits;
  const paths = trpcPaths(url);
  if (paths.length > limits.trpcBatch) {
    sendTrpcAppError(
      res,
      new AppError(
        "BAD_REQUEST",
        `A tRPC batch may hold at most ${limits.trpcBatch} procedures (this one has ${paths.length}); split it`,
        { details: { maxBatchSize: limits.trpcBatch, batchSize: paths.length } },
      ),
    );
    return null;
  }
  if (req.method === "POST") {
    // A cross-site form can POST text/plain or multipart without a CORS preflight; JSON cannot.
    if (!isJson(header(req, "content-type"))) {
      sendTrpcError(res, {
        status: 415,
        trpcCode: "UNSUPPORTED_MEDIA_TYPE",
        appCode: "BAD_REQUEST",
        message: "tRPC mutations must be sent as `content-type: application/json`",
      });
      return null;
    }
    const origin = header(req, "origin");
    if (origin !== null && origin !== runtime.env.consoleOrigin) {
      // Most often a person who typed another name for this console (127.0.0.1 for localhost):
      // signatures bind the console's one origin, so say where to go.
      sendTrpcAppError(
        res,
        new AppError(
          "FORBIDDEN",
          `Cross-origin request from ${origin} refused: this console is served at ${runtime.env.consoleOrigin}; open it there (sign-in and signatures are bound to that address)`,
          { details: { consoleOrigin: runtime.env.consoleOrigin } },
        ),
      );
      return null;
    }
  }
  const ip = clientIp(req);
  const authCalls = req.method === "POST" ? paths.filter((p) => p.startsWith("auth.")).length : 0;
  const early =
    denied(await runtime.limits.consume("requestsPerIp", ip, paths.length)) ??
    (authCalls > 0 ? denied(await runtime.limits.consume("authPerIp", ip, authCalls)) : null);
  if (early) {
    sendTrpcAppError(res, early);
    return null;
  }
  const caller = await runtime.callers.resolve({
    cookie: sessionCookie(req),
    authorization: header(req, "authorization"),
    ip,
  });
  const late =
    (caller.limited ? rateLimitedError(caller.limited) : null) ??
    (caller.session
      ? denied(await runtime.limits.consume("requestsPerIdentity", caller.session.address, paths.length))
      : null);
  if (late) {
    sendTrpcAppError(res, late);
    return null;
  }
  // The deadline may have answered while the checks above awaited.
  if (opts.deadline.expired) return null;
  return { session: caller.session, authError: caller.authError };
}

/** Checks a request for a plain HTTP route (blob transfers). False when it was answered. */
export async function admitHttpRoute(opts: {
  req: IncomingMessage;
  res: ServerResponse;
  runtime: TConsoleRuntime;
}): Promise<boolean> {
  const { req, res, runtime } = opts;
  const rejected = denied(await runtime.limits.consume("requestsPerIp", clientIp(req)));
  if (!rejected) return true;
  sendError(res, rejected, runtime.logger);
  return false;
}

/** Starts the body deadline that fits the route: short for tRPC JSON, idle + long for blobs. */
export function startBodyDeadline(opts: {
  req: IncomingMessage;
  res: ServerResponse;
  runtime: TConsoleRuntime;
  kind: "json" | "blob";
}): TBodyDeadline {
  const limits = opts.runtime.env.limits;
  const totalMs = opts.kind === "json" ? limits.jsonBodyMs : limits.blobBodyMs;
  return guardBody({
    req: opts.req,
    res: opts.res,
    totalMs,
    ...(opts.kind === "blob" ? { idleMs: limits.blobBodyIdleMs } : {}),
    answer: (res, { waitedMs, idle }) => {
      opts.runtime.logger.info(
        { url: opts.req.url, ip: clientIp(opts.req), waitedMs, idle },
        "request body timed out; connection closed",
      );
      const timeoutMs = idle ? limits.blobBodyIdleMs : totalMs;
      const seconds = Math.ceil(timeoutMs / 1000);
      const message = idle
        ? `Request body stalled for ${seconds} s; connection closed. Retry the upload`
        : `Request body did not arrive within ${seconds} s; connection closed. Retry with a faster connection or a smaller body`;
      if (opts.kind === "json") {
        sendTrpcError(res, {
          status: 408,
          trpcCode: "TIMEOUT",
          appCode: "BAD_REQUEST",
          message,
          details: { timeoutMs },
        });
      } else {
        sendJson(res, 408, { error: { appCode: "BAD_REQUEST", message, details: { timeoutMs } } });
      }
    },
  });
}

/** The `formation_session` cookie of a request, or null. */
export function sessionCookie(req: IncomingMessage): string | null {
  try {
    return readCookie(header(req, "cookie"), SESSION_COOKIE);
  } catch {
    // A malformed %-escape is no session at all.
    return null;
  }
}
