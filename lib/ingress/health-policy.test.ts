import { describe, expect, it } from "vitest";
import { describeHealthcheck, effectiveHealthcheck } from "./health-policy";

describe("effective health check", () => {
  it("defaults to a TCP connect on the first EXPOSEd port", () => {
    const hc = effectiveHealthcheck({ expose: [8080, 9090] });
    expect(hc).toEqual({
      kind: "tcp",
      port: 8080,
      intervalMs: 10_000,
      timeoutMs: 2_000,
      retries: 3,
      startPeriodMs: 0,
    });
    expect(describeHealthcheck(hc, false)).toBe(
      "tcp connect :8080 every 10s (timeout 2s, 3 retries) — default",
    );
  });

  it("nothing to probe without EXPOSE or with HEALTHCHECK none", () => {
    expect(effectiveHealthcheck({ expose: [] })).toBeNull();
    expect(effectiveHealthcheck({ expose: [80], healthcheck: { kind: "none" } })).toBeNull();
    expect(describeHealthcheck(null, true)).toBe("none (HEALTHCHECK none)");
  });

  it("keeps an explicit check", () => {
    const healthcheck = {
      kind: "http" as const,
      path: "/healthz",
      port: 8081,
      intervalMs: 1_500,
      timeoutMs: 500,
      retries: 1,
      startPeriodMs: 60_000,
    };
    const hc = effectiveHealthcheck({ expose: [80], healthcheck });
    expect(hc).toBe(healthcheck);
    expect(describeHealthcheck(hc, true)).toBe(
      "http GET :8081/healthz every 1500ms (timeout 500ms, 1 retry, start period 1m)",
    );
  });
});
