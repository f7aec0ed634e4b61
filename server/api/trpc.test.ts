import { describe, expect, it } from "vitest";
import { readCookie } from "./trpc";

describe("readCookie", () => {
  it("finds a cookie among others and decodes it", () => {
    expect(readCookie("a=1; formation_session=abc%3D; b=2", "formation_session")).toBe("abc=");
    expect(readCookie("formation_session_x=1", "formation_session")).toBeNull();
    expect(readCookie(null, "formation_session")).toBeNull();
  });
});
