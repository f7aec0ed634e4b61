import { describe, expect, it } from "vitest";
import { formatDiagnostic } from "./diagnostics";
import { parseFormfile } from "./parse";
import { checkFormfileText, MAX_FORMFILE_BYTES } from "./text";

const valid = "NAME app\nUSER username:dev passwd:secret sudo:true\n";

describe("Formfile text checks", () => {
  it("rejects a binary file with one error at the first control byte, never echoing it", () => {
    const result = parseFormfile(`${valid}RUN echo \u0001\u001b[2J\nGARBAGE\u0007\n`);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.errors).toHaveLength(1);
    expect(result.errors[0]).toMatchObject({ line: 3, column: 10 });
    expect(result.errors[0]?.message).toContain("U+0001");
    const printed = formatDiagnostic("Formfile", result.errors[0] ?? { line: 0, column: 0, message: "" });
    expect([...printed].filter((c) => (c.codePointAt(0) ?? 0) < 0x20)).toEqual([]);
  });

  it("calls invalid UTF-8 by its name", () => {
    const text = new TextDecoder().decode(new Uint8Array([0x4e, 0x41, 0x4d, 0x45, 0x20, 0xff, 0xfe, 0x0a]));
    expect(checkFormfileText(text)).toMatchObject({
      line: 1,
      column: 6,
      message: "the Formfile is not valid UTF-8 text",
    });
  });

  it("says the size limit, not the build context, for a Formfile over 256 KiB", () => {
    const big = valid + "RUN echo x\n".repeat(Math.ceil(MAX_FORMFILE_BYTES / 11) + 1);
    const error = checkFormfileText(big);
    expect(error?.message).toMatch(/^the Formfile is \d+ KiB; a Formfile may be at most 256 KiB$/);
    expect(error?.hint).toContain("COPY");
    expect(parseFormfile(big).ok).toBe(false);
  });

  it("accepts tabs, CRLF line ends and non-ASCII text", () => {
    expect(checkFormfileText("NAME app\r\nDESCRIPTION\tcafé ☕\n")).toBeNull();
  });

  it("escapes control characters that reach a diagnostic from elsewhere", () => {
    expect(formatDiagnostic("F", { line: 1, column: 1, message: "bad \u001b[31m" })).toBe(
      "F:1:1: bad \\u{1b}[31m",
    );
  });
});
