import { pino } from "pino";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { loadEnv } from "@/server/env";
import { RequestLimits, rateLimitedError } from "./rate-limit";

function limitsWith(env: Record<string, string>) {
  const lines: { msg: string; limit?: string; key?: string }[] = [];
  const logger = pino({ level: "info" }, { write: (line: string) => lines.push(JSON.parse(line)) });
  return { limits: new RequestLimits({ config: loadEnv(env).limits, logger }), lines };
}

describe("RequestLimits", () => {
  beforeEach(() => {
    vi.useFakeTimers();
    vi.setSystemTime(new Date("2026-01-01T00:00:00Z"));
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("allows the configured number per window, then rejects with the time to wait", async () => {
    const { limits } = limitsWith({ FORMATION_LIMIT_AUTH_PER_IP: "3" });
    for (let i = 0; i < 3; i++)
      expect(await limits.consume("authPerIp", "1.2.3.4")).toEqual({ allowed: true });
    vi.advanceTimersByTime(15_000);
    expect(await limits.consume("authPerIp", "1.2.3.4")).toEqual({
      allowed: false,
      limit: "authPerIp",
      retryAfterSeconds: 45,
    });
    // Other clients keep their own allowance.
    expect(await limits.consume("authPerIp", "5.6.7.8")).toEqual({ allowed: true });
    vi.advanceTimersByTime(45_001);
    expect(await limits.consume("authPerIp", "1.2.3.4")).toEqual({ allowed: true });
  });

  it("takes several points at once (one per procedure of a batch)", async () => {
    const { limits } = limitsWith({ FORMATION_LIMIT_REQUESTS_PER_IP: "10" });
    expect((await limits.consume("requestsPerIp", "ip", 8)).allowed).toBe(true);
    expect((await limits.consume("requestsPerIp", "ip", 3)).allowed).toBe(false);
  });

  it("counts every rejection but logs a key once per window", async () => {
    const { limits, lines } = limitsWith({ FORMATION_LIMIT_AUTH_PER_IP: "2" });
    for (let i = 0; i < 50; i++) await limits.consume("authPerIp", "ip");
    expect(limits.rejections().authPerIp).toBe(48);
    expect(lines.filter((l) => l.msg.startsWith("rate limit reached"))).toHaveLength(1);
    vi.advanceTimersByTime(60_001);
    for (let i = 0; i < 5; i++) await limits.consume("authPerIp", "ip");
    expect(lines.filter((l) => l.msg.startsWith("rate limit reached"))).toHaveLength(2);
    limits.logRejectionTotals();
    limits.logRejectionTotals();
    expect(lines.filter((l) => l.msg.startsWith("rate-limit rejections"))).toHaveLength(1);
  });

  it("check() looks without consuming", async () => {
    const { limits } = limitsWith({ FORMATION_LIMIT_AUTH_FAILURES_PER_IP: "2" });
    for (let i = 0; i < 10; i++) expect((await limits.check("authFailuresPerIp", "ip")).allowed).toBe(true);
    await limits.consume("authFailuresPerIp", "ip");
    await limits.consume("authFailuresPerIp", "ip");
    expect((await limits.check("authFailuresPerIp", "ip")).allowed).toBe(true);
    await limits.consume("authFailuresPerIp", "ip");
    expect(await limits.check("authFailuresPerIp", "ip")).toMatchObject({
      allowed: false,
      retryAfterSeconds: 60,
    });
  });

  it("tells a rejected client what to do", () => {
    const error = rateLimitedError({ limit: "authPerIp", retryAfterSeconds: 12 });
    expect(error.code).toBe("RATE_LIMITED");
    expect(error.httpStatus).toBe(429);
    expect(error.message).toBe("Too many requests; retry in 12 s");
    expect(error.details).toEqual({ limit: "authPerIp", retryAfterSeconds: 12 });
  });
});
