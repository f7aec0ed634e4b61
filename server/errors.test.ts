import { TRPCError } from "@trpc/server";
import { describe, expect, it } from "vitest";
import { FormnetExhaustedError } from "@/lib/formnet/allocate";
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

  it("answers an exhausted formnet as RESOURCE_EXHAUSTED (not INTERNAL) that says what to do", () => {
    const exhausted = new FormnetExhaustedError("10.42.0.0/16", 65534);
    // tRPC wraps what a procedure throws; the console's formatter and middleware look through it.
    const app = findAppError(
      new TRPCError({ code: "INTERNAL_SERVER_ERROR", cause: new Error("ship failed", { cause: exhausted }) }),
    );
    expect(app?.code).toBe("RESOURCE_EXHAUSTED");
    expect([app?.trpcCode, app?.httpStatus]).toEqual(["SERVICE_UNAVAILABLE", 503]);
    expect(app?.cause).toBe(exhausted);
    expect(app?.details).toEqual({ cidr: "10.42.0.0/16", used: 65534 });
    expect(app?.message).toMatch(/No formnet address is free in 10\.42\.0\.0\/16/);
    expect(app?.message).toMatch(/Delete instances or formnet devices .*FORMATION_FORMNET_CIDR/);
    // An AppError further out wins: the service said what it meant.
    const outer = new AppError("CONFLICT", "taken", { cause: exhausted });
    expect(findAppError(outer)).toBe(outer);
  });
});
