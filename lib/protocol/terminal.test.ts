import { describe, expect, it } from "vitest";
import { parseTerminalClientFrame, parseTerminalServerFrame, terminalUrl } from "./terminal";

describe("terminal protocol", () => {
  it("builds ws/wss URLs on the console's origin", () => {
    expect(
      terminalUrl({
        origin: "https://c.example",
        instanceId: "i-1",
        sessionId: "s".repeat(24),
        cols: 80,
        rows: 24,
      }),
    ).toBe(`wss://c.example/ws/terminal?instance=i-1&session=${"s".repeat(24)}&cols=80&rows=24`);
    expect(terminalUrl({ origin: "http://localhost:3000", instanceId: "i-1", cols: 100, rows: 30 })).toBe(
      "ws://localhost:3000/ws/terminal?instance=i-1&cols=100&rows=30",
    );
  });

  it("accepts known frames and rejects malformed ones", () => {
    expect(parseTerminalClientFrame('{"type":"resize","cols":120,"rows":40}')).toEqual({
      type: "resize",
      cols: 120,
      rows: 40,
    });
    expect(parseTerminalClientFrame('{"type":"resize","cols":0,"rows":40}')).toBeNull();
    expect(parseTerminalClientFrame("not json")).toBeNull();
    expect(parseTerminalServerFrame('{"type":"error","reason":"not-found","message":"no"}')).toMatchObject({
      reason: "not-found",
    });
    // No longer a reason: another account's instance is answered "not-found" like a missing one.
    expect(
      parseTerminalServerFrame('{"type":"error","reason":"not-your-instance","message":"no"}'),
    ).toBeNull();
    expect(parseTerminalServerFrame('{"type":"error","reason":"made-up","message":"no"}')).toBeNull();
  });
});
