import { describe, expect, it } from "vitest";
import { BlobError } from "./errors";
import { consoleUnreachable, withConsolePatience } from "./patience";

const reset = () =>
  new BlobError({ code: "network", url: "http://c/x", message: "cannot upload to http://c/x" });

describe("withConsolePatience", () => {
  it("tries again while the console is unreachable and returns once it answers", async () => {
    let calls = 0;
    const retries: number[] = [];
    const value = await withConsolePatience(
      async () => {
        calls += 1;
        if (calls < 3) throw reset();
        return "uploaded";
      },
      { patienceMs: 10_000, onRetry: (_e, attempt) => retries.push(attempt) },
    );
    expect(value).toBe("uploaded");
    expect(retries).toEqual([1, 2]);
  });

  it("fails at once on an answer that is not about reachability, and after its patience otherwise", async () => {
    const forbidden = new BlobError({
      code: "http",
      status: 403,
      url: "http://c/x",
      message: "PUT answered 403",
    });
    let calls = 0;
    await expect(
      withConsolePatience(
        async () => {
          calls += 1;
          throw forbidden;
        },
        { patienceMs: 10_000 },
      ),
    ).rejects.toBe(forbidden);
    expect(calls).toBe(1);
    await expect(withConsolePatience(async () => Promise.reject(reset()), { patienceMs: 0 })).rejects.toThrow(
      /cannot upload/,
    );
  });

  it("counts refused or reset connections and 502/503/504 as an unreachable console", () => {
    expect(consoleUnreachable(reset())).toBe(true);
    expect(consoleUnreachable(new BlobError({ code: "http", status: 503, url: "u", message: "m" }))).toBe(
      true,
    );
    expect(consoleUnreachable(new BlobError({ code: "http", status: 404, url: "u", message: "m" }))).toBe(
      false,
    );
    expect(consoleUnreachable(new BlobError({ code: "io", url: "u", message: "cut off mid-stream" }))).toBe(
      true,
    );
    expect(consoleUnreachable(new BlobError({ code: "digestMismatch", url: "u", message: "m" }))).toBe(false);
    expect(consoleUnreachable(new Error("x"))).toBe(false);
  });
});
