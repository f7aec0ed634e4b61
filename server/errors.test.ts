import { TRPCError } from "@trpc/server";
import { describe, expect, it } from "vitest";
import {
  APP_ERROR_CODES,
  APP_ERROR_HTTP,
  APP_ERROR_TRPC,
  AppError,
  findAppError,
  isAppError,
} from "./errors";

describe("AppError", () => {
  it("maps every code to a tRPC code and an HTTP status", () => {
    for (const code of APP_ERROR_CODES) {
      expect(APP_ERROR_TRPC[code]).toBeTruthy();
      expect(APP_ERROR_HTTP[code]).toBeGreaterThanOrEqual(400);
    }
    const e = new AppError("NONCE_REUSED", "replay", { details: { nonce: "n" } });
    expect([e.httpStatus, e.trpcCode, e.details]).toEqual([409, "CONFLICT", { nonce: "n" }]);
  });

  it("is found through cause chains and matched by code", () => {
    const app = new AppError("FORBIDDEN", "no");
    const wrapped = new TRPCError({
      code: "INTERNAL_SERVER_ERROR",
      cause: new Error("outer", { cause: app }),
    });
    expect(findAppError(wrapped)).toBe(app);
    expect(isAppError(app, "FORBIDDEN")).toBe(true);
    expect(isAppError(app, "NOT_FOUND")).toBe(false);
    expect(findAppError(new Error("plain"))).toBeUndefined();
  });
});
