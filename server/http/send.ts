import type { ServerResponse } from "node:http";
import { type TRPC_ERROR_CODE_KEY, TRPC_ERROR_CODES_BY_KEY } from "@trpc/server/rpc";
import type { Logger } from "pino";
import { type AppError, findAppError, type TAppErrorCode } from "@/server/errors";

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    ...headers,
    "content-type": "application/json; charset=utf-8",
    "content-length": Buffer.byteLength(text),
  });
  res.end(text);
}

/** `Retry-After` for a RATE_LIMITED AppError that carries `details.retryAfterSeconds`. */
export function retryAfterHeaders(app: AppError | undefined): Record<string, string> {
  const seconds = app?.details?.retryAfterSeconds;
  return typeof seconds === "number" ? { "retry-after": String(seconds) } : {};
}

/** Maps any error to the JSON error shape of plain HTTP routes (AppError code → status). */
export function sendError(res: ServerResponse, error: unknown, logger: Logger): void {
  const app = findAppError(error);
  if (!app || app.code === "INTERNAL") logger.error({ err: error }, "HTTP handler failed");
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const status = app?.httpStatus ?? 500;
  sendJson(
    res,
    status,
    {
      error: {
        appCode: app?.code ?? "INTERNAL",
        message: app && app.code !== "INTERNAL" ? app.message : "Internal error",
        details: app?.details ?? null,
      },
    },
    retryAfterHeaders(app),
  );
}

/**
 * Answers a tRPC request before it reaches the router, in the shape tRPC clients parse (superjson
 * envelope, `data.appCode` as the error formatter in server/api/trpc.ts produces).
 */
export function sendTrpcError(
  res: ServerResponse,
  opts: {
    status: number;
    trpcCode: TRPC_ERROR_CODE_KEY;
    appCode: TAppErrorCode;
    message: string;
    details?: Record<string, unknown> | null;
    headers?: Record<string, string>;
  },
): void {
  sendJson(
    res,
    opts.status,
    {
      error: {
        json: {
          message: opts.message,
          code: TRPC_ERROR_CODES_BY_KEY[opts.trpcCode],
          data: {
            code: opts.trpcCode,
            httpStatus: opts.status,
            appCode: opts.appCode,
            details: opts.details ?? null,
            zodError: null,
          },
        },
      },
    },
    opts.headers ?? {},
  );
}

/** A tRPC-shaped answer for an AppError (status and codes from its AppError code). */
export function sendTrpcAppError(res: ServerResponse, app: AppError): void {
  sendTrpcError(res, {
    status: app.httpStatus,
    trpcCode: app.trpcCode,
    appCode: app.code,
    message: app.message,
    details: app.details ?? null,
    headers: retryAfterHeaders(app),
  });
}
