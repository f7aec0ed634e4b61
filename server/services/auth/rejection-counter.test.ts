import pino from "pino";
import { describe, expect, it } from "vitest";
import { AppError } from "@/server/errors";
import { createRejectionCounter } from "./rejection-counter";

function recordingLogger() {
  const lines: { rejected: number }[] = [];
  const logger = pino({ level: "warn" }, { write: (line: string) => lines.push(JSON.parse(line)) });
  return { logger, lines };
}

describe("rejection counter", () => {
  it("counts by action and code and logs at most once a minute", () => {
    const { logger, lines } = recordingLogger();
    let now = 0;
    const counter = createRejectionCounter({ logger, now: () => now });
    for (let i = 0; i < 500; i += 1) counter.count("build.create", new AppError("SIGNATURE_INVALID", "bad"));
    counter.count("instance.stop", new Error("boom"));
    expect(counter.snapshot()).toEqual({
      "build.create:SIGNATURE_INVALID": 500,
      "instance.stop:INTERNAL": 1,
    });
    expect(lines).toHaveLength(1);
    now = 60_000;
    counter.count("build.create", new AppError("NONCE_REUSED", "again"));
    expect(lines).toHaveLength(2);
    expect(lines[1]?.rejected).toBe(501);
  });
});
