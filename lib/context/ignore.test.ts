import { describe, expect, it } from "vitest";
import { compileIgnore } from "./ignore";

describe("compileIgnore", () => {
  const m = compileIgnore(
    [
      "# comment",
      "*.log",
      "!keep.log",
      "node_modules/",
      "/build",
      "docs/**/*.tmp",
      "cache/**",
      "a?c",
      "[Tt]humbs.db",
      "\\#hash",
      "  ",
    ].join("\n"),
  );

  it.each([
    ["x.log", false, true],
    ["deep/dir/x.log", false, true],
    ["keep.log", false, false],
    ["sub/keep.log", false, false],
    ["node_modules", true, true],
    ["node_modules", false, false],
    ["pkg/node_modules", true, true],
    ["build", true, true],
    ["src/build", true, false],
    ["docs/a/b/x.tmp", false, true],
    ["docs/x.tmp", false, true],
    ["x.tmp", false, false],
    ["cache/a/b", false, true],
    ["cache", true, false],
    ["abc", false, true],
    ["a/c", false, false],
    ["thumbs.db", false, true],
    ["Thumbs.db", false, true],
    ["#hash", false, true],
    [".git", true, true],
    ["app/server.py", false, false],
  ])("%s (dir=%s) ignored=%s", (path, isDir, expected) => {
    expect(m.ignores(path, isDir)).toBe(expected);
  });

  it("collapses repeated **/ so long paths stay fast", () => {
    const slow = compileIgnore("**/**/**/**/**/**/never");
    const start = performance.now();
    expect(slow.ignores(`${"a/".repeat(2000)}b`, false)).toBe(false);
    expect(slow.ignores("x/never", false)).toBe(true);
    expect(performance.now() - start).toBeLessThan(500);
  });

  it("excludes files beneath an excluded directory and lets !.git/ re-include git", () => {
    expect(m.excludes("node_modules/x/index.js", false)).toBe(true);
    expect(m.excludes("app/server.py", false)).toBe(false);
    expect(compileIgnore("!.git/").ignores(".git", true)).toBe(false);
  });
});
