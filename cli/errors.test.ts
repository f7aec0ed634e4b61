import { TRPCClientError } from "@trpc/client";
import { describe, expect, it } from "vitest";
import type { AppRouter } from "../server/api/root";
import { CliError, toCliError } from "./errors";

function trpcError(message: string, data: Record<string, unknown> | undefined): TRPCClientError<AppRouter> {
  const error = new TRPCClientError<AppRouter>(message);
  // What the client sets from the console's error shape (server/api/trpc.ts errorFormatter).
  if (data) Object.defineProperty(error, "data", { value: data });
  return error;
}

describe("toCliError", () => {
  it("picks kind and hint by the console's typed code, never by the message", () => {
    const notFound = toCliError(trpcError("build b not found", { appCode: "NOT_FOUND" }), "http://c");
    expect([notFound.kind, notFound.code, notFound.appCode, notFound.exitCode]).toEqual([
      "user",
      "NOT_FOUND",
      "NOT_FOUND",
      1,
    ]);
    expect(notFound.message).toBe(
      "build b not found — check the id (list yours with `form pack status` or the console)",
    );
    const exhausted = toCliError(
      trpcError("No formnet address is free", { appCode: "RESOURCE_EXHAUSTED" }),
      "x",
    );
    expect([exhausted.kind, exhausted.code]).toEqual(["remote", "RESOURCE_EXHAUSTED"]);
    expect(exhausted.message).toMatch(/free what you no longer use/);
  });

  it("tells an unreachable console from an unknown code of a newer one", () => {
    const unreachable = toCliError(trpcError("fetch failed", undefined), "http://c");
    expect([unreachable.code, unreachable.appCode]).toEqual(["CONSOLE_UNREACHABLE", null]);
    expect(unreachable.message).toMatch(/^cannot reach the console at http:\/\/c/);
    const unknown = toCliError(trpcError("new", { appCode: "SOMETHING_NEW" }), "http://c");
    expect([unknown.kind, unknown.code, unknown.message]).toEqual([
      "remote",
      "CLI_REMOTE",
      "new — retry the command",
    ]);
  });

  it("keeps a CliError and wraps anything else", () => {
    const own = new CliError("user", "pass --build-id");
    expect(toCliError(own, "x")).toBe(own);
    expect(own.code).toBe("CLI_USER");
    expect(toCliError(new Error("boom"), "x").code).toBe("CLI_REMOTE");
  });
});
