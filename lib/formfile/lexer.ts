import type { TDiagnostic, TPosition } from "./diagnostics";

/**
 * Turns Formfile text into logical lines (joining `\` continuations, dropping comments and blank lines)
 * and splits argument text into quote-aware tokens, keeping a map back to physical line:column.
 */

type TSegment = { offset: number; line: number; column: number };

/** One instruction after joining continuation lines; `positionOf` maps an offset in `text` to the file. */
export type TLogicalLine = {
  text: string;
  line: number;
  positionOf: (offset: number) => TPosition;
};

export type TToken = { value: string; offset: number; end: number };

function makeLine(text: string, segments: TSegment[]): TLogicalLine {
  const first = segments[0] ?? { offset: 0, line: 1, column: 1 };
  return {
    text,
    line: first.line,
    positionOf(offset) {
      let seg = first;
      for (const s of segments) if (s.offset <= offset) seg = s;
      return { line: seg.line, column: seg.column + (offset - seg.offset) };
    },
  };
}

/** Splits Formfile text into logical lines; warnings flag dangling continuations. */
export function logicalLines(source: string): { lines: TLogicalLine[]; warnings: TDiagnostic[] } {
  const physical = source.replace(/^\uFEFF/, "").split(/\r\n|\n|\r/);
  const lines: TLogicalLine[] = [];
  const warnings: TDiagnostic[] = [];
  let text = "";
  let segments: TSegment[] = [];
  let open: TPosition | null = null;

  const flush = (): void => {
    if (segments.length > 0) lines.push(makeLine(text, segments));
    text = "";
    segments = [];
    open = null;
  };

  physical.forEach((raw, index) => {
    const lineNo = index + 1;
    const trimmed = raw.trim();
    if (open !== null && trimmed === "") {
      warnings.push({
        ...open,
        message: "line continuation `\\` is followed by a blank line, which ends the instruction",
        hint: "remove the trailing `\\` or the blank line",
      });
      flush();
      return;
    }
    // Comments are whole lines only (as in Dockerfiles), so `#` inside a RUN command is kept.
    if (trimmed === "" || trimmed.startsWith("#")) return;
    const end = raw.trimEnd();
    const continues = end.endsWith("\\");
    segments.push({ offset: text.length, line: lineNo, column: 1 });
    if (continues) {
      // The backslash becomes a space so the joined pieces stay separate tokens.
      text += `${end.slice(0, -1)} `;
      open = { line: lineNo, column: end.length };
    } else {
      text += raw;
      flush();
    }
  });
  if (open !== null) {
    warnings.push({
      ...(open as TPosition),
      message: "line continuation `\\` at the end of the file",
      hint: "remove the trailing `\\`",
    });
  }
  flush();
  return { lines, warnings };
}

const isSpace = (ch: string | undefined): boolean => ch === " " || ch === "\t";

/**
 * Splits `text` from `start` into whitespace-separated tokens. Double quotes group (with `\"` and `\\`
 * escapes), single quotes group literally, and quotes may appear mid-token (`key:"a b"` → `key:a b`).
 */
export function tokenize(
  text: string,
  start = 0,
): { tokens: TToken[]; error?: { offset: number; message: string } } {
  const tokens: TToken[] = [];
  let i = start;
  while (i < text.length) {
    while (isSpace(text[i])) i++;
    if (i >= text.length) break;
    const offset = i;
    let value = "";
    while (i < text.length && !isSpace(text[i])) {
      const ch = text[i];
      if (ch === '"' || ch === "'") {
        const quoteAt = i;
        i++;
        let closed = false;
        while (i < text.length) {
          const c = text[i];
          if (c === ch) {
            closed = true;
            i++;
            break;
          }
          if (ch === '"' && c === "\\" && (text[i + 1] === '"' || text[i + 1] === "\\")) {
            value += text[i + 1];
            i += 2;
            continue;
          }
          value += c;
          i++;
        }
        if (!closed) return { tokens, error: { offset: quoteAt, message: `unterminated ${ch} quote` } };
      } else {
        value += ch;
        i++;
      }
    }
    tokens.push({ value, offset, end: i });
  }
  return { tokens };
}
