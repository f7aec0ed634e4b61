import type { ServerResponse } from "node:http";
import type { Logger } from "pino";
import { findAppError } from "@/server/errors";

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json; charset=utf-8",
    "content-length": Buffer.byteLength(text),
  });
  res.end(text);
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
  sendJson(res, status, {
    error: {
      appCode: app?.code ?? "INTERNAL",
      message: app && app.code !== "INTERNAL" ? app.message : "Internal error",
      details: app?.details ?? null,
    },
  });
}
