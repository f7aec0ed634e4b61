import { describe, expect, it } from "vitest";
import { canonicalUrl } from "./console-config";

describe("canonicalUrl", () => {
  it("moves another name for the console to its canonical origin, keeping the path", () => {
    const at = (origin: string) => ({ origin, pathname: "/builds/x", search: "?a=1", hash: "#log" });
    expect(canonicalUrl(at("http://127.0.0.1:3000"), "http://localhost:3000")).toBe(
      "http://localhost:3000/builds/x?a=1#log",
    );
    expect(canonicalUrl(at("http://localhost:3000"), "http://localhost:3000")).toBeNull();
  });
});
