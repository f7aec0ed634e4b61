import { describe, expect, it } from "vitest";
import { TrafficStats } from "./traffic";

const entry = (at: number, status: number, ms: number, retries = 0) => ({
  at: new Date(at),
  method: "GET",
  path: "/",
  status,
  ms,
  instanceId: "i-1",
  retries,
  client: "127.0.0.1",
  protocol: "http",
});

describe("traffic stats", () => {
  it("sums the last minute: requests/s, status classes, percentiles, retries; keeps 10 s windows and the log", () => {
    let now = 1_000_000;
    const stats = new TrafficStats({ now: () => now });
    for (let i = 0; i < 100; i++)
      stats.record("d-1", entry(now - 30_000 + i * 100, i < 90 ? 200 : 503, i + 1, i === 0 ? 1 : 0));
    stats.record("d-1", entry(now - 1_000, 404, 1));
    // Older than a minute: in the windows, not in the one-minute figures.
    stats.record("d-1", entry(now - 120_000, 200, 1000));
    const s = stats.summary("d-1");
    expect(s.status).toEqual({ "2xx": 90, "3xx": 0, "4xx": 1, "5xx": 10 });
    expect(s.requestsPerSecond).toBeCloseTo(101 / 60, 2);
    expect(s.p50Ms).toBe(50);
    expect(s.p99Ms).toBe(99);
    expect(s.retried).toBe(1);
    expect(s.windows.map((w) => w.requests).reduce((a, b) => a + b)).toBe(102);
    expect(s.log[0]?.status).toBe(200);
    expect(s.log).toHaveLength(102);
    now += 11 * 60_000;
    expect(stats.summary("d-1").windows).toEqual([]);
    expect(stats.summary("d-other").requestsPerSecond).toBe(0);
  });

  it("keeps the access log bounded", () => {
    const stats = new TrafficStats();
    for (let i = 0; i < 500; i++) stats.record("d-1", entry(Date.now(), 200, 1));
    expect(stats.summary("d-1").log).toHaveLength(200);
  });
});
