import { describe, expect, it } from "vitest";
import { cpuPercent, parseMeminfo, parseNetDev, parseProcStat, parseVmRssKb } from "./proc-parse";

const stat = (user: number, idle: number) => `cpu  ${user} 0 0 ${idle} 0 0 0 0 0 0\ncpu0 1 2 3 4\n`;

describe("proc parsers", () => {
  it("computes busy CPU percentage between two samples", () => {
    const a = parseProcStat(stat(100, 900));
    const b = parseProcStat(stat(150, 950));
    expect(cpuPercent(a, b)).toBe(50);
    expect(cpuPercent(b, b)).toBe(0);
  });

  it("counts iowait as idle and steal as busy", () => {
    const times = parseProcStat("cpu  10 0 0 70 20 0 0 5 0 0\n");
    expect(times).toEqual({ idle: 90, total: 105 });
  });

  it("rejects a /proc/stat without the aggregate line", () => {
    expect(() => parseProcStat("cpu0 1 2 3\n")).toThrow(/aggregate/);
  });

  it("derives used memory from MemAvailable", () => {
    const text = "MemTotal:       2048000 kB\nMemFree:         100000 kB\nMemAvailable:   1024000 kB\n";
    expect(parseMeminfo(text)).toEqual({ totalMb: 2000, usedMb: 1000 });
  });

  it("sums network bytes, skipping loopback and taps", () => {
    const text = [
      "Inter-|   Receive                                                |  Transmit",
      " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed",
      "    lo: 5000 10 0 0 0 0 0 0 5000 10 0 0 0 0 0 0",
      "  eth0: 1000 10 0 0 0 0 0 0 2000 20 0 0 0 0 0 0",
      "  tap3: 7777 10 0 0 0 0 0 0 8888 20 0 0 0 0 0 0",
      "formbr0: 300 1 0 0 0 0 0 0 400 2 0 0 0 0 0 0",
    ].join("\n");
    expect(parseNetDev(text)).toEqual({ rxBytes: 1300, txBytes: 2400 });
  });

  it("reads VmRSS from /proc/<pid>/status", () => {
    expect(parseVmRssKb("Name:\tnode\nVmRSS:\t   61234 kB\n")).toBe(61234);
    expect(() => parseVmRssKb("Name:\tzombie\n")).toThrow(/VmRSS/);
  });
});

describe("netRates", () => {
  it("turns cumulative counters into bytes per second and ignores counter resets", async () => {
    const { netRates } = await import("./host-metrics");
    const a = { at: 1_000, counters: { rxBytes: 1_000, txBytes: 5_000 } };
    const b = { at: 3_000, counters: { rxBytes: 5_000, txBytes: 1_000 } };
    expect(netRates(undefined, a)).toEqual({ rx: 0, tx: 0 });
    expect(netRates(a, b)).toEqual({ rx: 2_000, tx: 0 });
  });
});
