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

const SPACE = 32;
const TAB = 9;
const DQUOTE = 34;
const SQUOTE = 39;
/** A run of characters that need no quote handling; sticky so it matches exactly at `lastIndex`. */
const PLAIN_RUN = /[^ \t"']+/y;
/** The next character that ends or escapes inside a double-quoted section. */
const DQ_SPECIAL = /["\\]/g;

type TScan = { value: string; next: number } | { error: { offset: number; message: string } };

/** Scans a quoted section starting at the quote `at`; returns its unquoted text and the index after it. */
function scanQuoted(text: string, at: number): TScan {
  const quote = text.charCodeAt(at);
  if (quote === SQUOTE) {
    const close = text.indexOf("'", at + 1);
    if (close === -1) return { error: { offset: at, message: "unterminated ' quote" } };
    return { value: text.slice(at + 1, close), next: close + 1 };
  }
  let value = "";
  let i = at + 1;
  for (;;) {
    DQ_SPECIAL.lastIndex = i;
    const m = DQ_SPECIAL.exec(text);
    if (m === null) return { error: { offset: at, message: 'unterminated " quote' } };
    value += text.slice(i, m.index);
    if (m[0] === '"') return { value, next: m.index + 1 };
    // Only \" and \\ are escapes; any other backslash is kept literally.
    const escaped = text[m.index + 1];
    if (escaped === '"' || escaped === "\\") {
      value += escaped;
      i = m.index + 2;
    } else {
      value += "\\";
      i = m.index + 1;
    }
  }
}

/**
 * Splits `text` from `start` into whitespace-separated tokens. Double quotes group (with `\"` and `\\`
 * escapes), single quotes group literally, and quotes may appear mid-token (`key:"a b"` → `key:a b`).
 */
export function tokenize(
  text: string,
  start = 0,
): { tokens: TToken[]; error?: { offset: number; message: string } } {
  const tokens: TToken[] = [];
  const n = text.length;
  let i = start;
  while (i < n) {
    let c = text.charCodeAt(i);
    if (c === SPACE || c === TAB) {
      i++;
      continue;
    }
    const offset = i;
    let value = "";
    while (i < n) {
      c = text.charCodeAt(i);
      if (c === SPACE || c === TAB) break;
      if (c === DQUOTE || c === SQUOTE) {
        const scan = scanQuoted(text, i);
        if ("error" in scan) return { tokens, error: scan.error };
        value += scan.value;
        i = scan.next;
      } else {
        PLAIN_RUN.lastIndex = i;
        PLAIN_RUN.test(text);
        value += text.slice(i, PLAIN_RUN.lastIndex);
        i = PLAIN_RUN.lastIndex;
      }
    }
    tokens.push({ value, offset, end: i });
  }
  return { tokens };
}
