import { TRPCClientError } from "@trpc/client";
import { describe, expect, it } from "vitest";
import type { AppRouter } from "@/server/api/root";
import { appCodeOf, inputProblem, shouldRetry } from "./errors";

function trpcError(data: Record<string, unknown>): TRPCClientError<AppRouter> {
  const error = new TRPCClientError<AppRouter>("boom");
  // What the client sets from the server's error shape (server/api/trpc.ts errorFormatter).
  Object.defineProperty(error, "data", { value: data });
  return error;
}

describe("client error helpers", () => {
  it("reads appCode, retries only transient failures and words input problems", () => {
    const notFound = trpcError({ appCode: "NOT_FOUND" });
    expect(appCodeOf(notFound)).toBe("NOT_FOUND");
    expect(shouldRetry(0, notFound)).toBe(false);
    expect(shouldRetry(0, new Error("fetch failed"))).toBe(true);
    expect(shouldRetry(1, new Error("fetch failed"))).toBe(false);
    const bad = trpcError({
      appCode: "BAD_REQUEST",
      zodError: { formErrors: [], fieldErrors: { instanceId: ["an instance id looks like i-<20 hex>"] } },
    });
    expect(inputProblem(bad)).toBe("an instance id looks like i-<20 hex>");
    expect(inputProblem(notFound)).toBeNull();
  });
});
