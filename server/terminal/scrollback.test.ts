import { describe, expect, it } from "vitest";
import { Scrollback } from "./scrollback";

describe("Scrollback", () => {
  it("keeps everything under the limit, in order", () => {
    const s = new Scrollback(100);
    s.push(Buffer.from("abc"));
    s.push(Buffer.from("déf"));
    expect(s.snapshot().toString("utf8")).toBe("abcdéf");
    expect(s.size).toBe(7);
  });

  it("keeps only the newest bytes when over the limit", () => {
    const s = new Scrollback(5);
    s.push(Buffer.from("0123"));
    s.push(Buffer.from("4567"));
    expect(s.snapshot().toString()).toBe("34567");
    s.push(Buffer.from("89abcdef"));
    expect(s.snapshot().toString()).toBe("bcdef");
    expect(s.size).toBe(5);
  });
});
