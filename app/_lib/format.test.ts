import { describe, expect, it } from "vitest";
import { formatAgo, formatBytes, formatDuration, shortId } from "./format";

describe("format helpers", () => {
  it("formats durations as the timeline shows them", () => {
    expect(formatDuration(0)).toBe("0s");
    expect(formatDuration(42_900)).toBe("42s");
    expect(formatDuration(65_000)).toBe("1m 05s");
    expect(formatDuration(2 * 3600_000 + 3 * 60_000)).toBe("2h 03m");
    expect(formatDuration(-5)).toBe("0s");
  });

  it("formats relative times against a given clock", () => {
    const now = Date.parse("2026-01-01T00:10:00Z");
    expect(formatAgo(null, now)).toBe("never");
    expect(formatAgo(new Date(now - 2_000), now)).toBe("just now");
    expect(formatAgo(new Date(now - 30_000), now)).toBe("30 s ago");
    expect(formatAgo("2026-01-01T00:05:00Z", now)).toBe("5 min ago");
  });

  it("formats sizes and ids", () => {
    expect(formatBytes(null)).toBe("—");
    expect(formatBytes(512)).toBe("512 B");
    expect(formatBytes(1536)).toBe("1.5 KiB");
    expect(formatBytes(300 * 1024 * 1024)).toBe("300 MiB");
    expect(shortId(`sha256:${"a".repeat(64)}`)).toBe(`${"a".repeat(12)}…`);
    expect(shortId("abc")).toBe("abc");
  });
});
