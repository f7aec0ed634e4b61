import { describe, expect, it } from "vitest";
import { BUILD_MARK, parseBuildEvent, sanitizeLogLine } from "./protocol";

describe("build VM serial protocol", () => {
  it("parses each marker and ignores ordinary or malformed lines", () => {
    expect(parseBuildEvent(`${BUILD_MARK} ready`)).toEqual({ kind: "ready" });
    expect(parseBuildEvent(`${BUILD_MARK} begin 3`)).toEqual({ kind: "begin", step: 3 });
    expect(parseBuildEvent(`${BUILD_MARK} end 3 127`)).toEqual({ kind: "end", step: 3, exitCode: 127 });
    expect(parseBuildEvent(`${BUILD_MARK} done 0`)).toEqual({ kind: "done", exitCode: 0 });
    expect(parseBuildEvent(`${BUILD_MARK} platform-error no root disk`)).toEqual({
      kind: "platform-error",
      message: "no root disk",
    });
    for (const line of [
      "hello",
      ` ${BUILD_MARK} ready`,
      `${BUILD_MARK}ready`,
      `${BUILD_MARK} begin x`,
      `${BUILD_MARK} begin -1`,
      `${BUILD_MARK} end 3`,
      `${BUILD_MARK} end 3 1e3`,
      `${BUILD_MARK} done 99999999999`,
      `${BUILD_MARK} reboot`,
    ]) {
      expect(parseBuildEvent(line)).toBeNull();
    }
  });

  it("strips terminal escapes and control bytes, keeps tabs, bounds the length", () => {
    expect(sanitizeLogLine("\x1b[31mred\x1b[0m \x1b]0;title\x07ok\r")).toBe("red ok");
    expect(sanitizeLogLine("a\tb\x00c\x7fd\x9be")).toBe("a\tbcde");
    expect(sanitizeLogLine("x".repeat(10_000))).toHaveLength(4000);
  });
});
