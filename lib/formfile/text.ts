import type { TDiagnostic } from "./diagnostics";

/** Largest Formfile accepted, in UTF-8 bytes; long scripts belong in files of the build context. */
export const MAX_FORMFILE_BYTES = 256 * 1024;

/** C0 controls except tab and line ends, DEL, and C1 controls. */
function isControl(code: number, allowLineBreaks: boolean): boolean {
  if (allowLineBreaks && (code === 0x09 || code === 0x0a || code === 0x0d)) return false;
  return code < 0x20 || (code >= 0x7f && code <= 0x9f);
}

/** Index of the first character that is no text (a control or invalid UTF-8's U+FFFD), or -1. */
function firstNonText(text: string): number {
  for (let i = 0; i < text.length; i += 1) {
    const code = text.charCodeAt(i);
    if (code === 0xfffd || isControl(code, true)) return i;
  }
  return -1;
}

function humanBytes(n: number): string {
  if (n >= 1024 * 1024) return `${(n / (1024 * 1024)).toFixed(1)} MiB`;
  return `${Math.ceil(n / 1024)} KiB`;
}

/** `U+0001`-style name of a character, for messages that must not print it raw. */
export function codePointName(char: string): string {
  return `U+${(char.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, "0")}`;
}

/**
 * Checks that a Formfile is plausible text before it is parsed: not over the size limit, and free
 * of control characters and invalid UTF-8 (a binary file would otherwise yield one garbage
 * diagnostic per line, echoing raw bytes to the user's terminal). Returns the one error, or null.
 */
export function checkFormfileText(text: string): TDiagnostic | null {
  const bytes = new TextEncoder().encode(text).length;
  if (bytes > MAX_FORMFILE_BYTES) {
    return {
      line: 0,
      column: 0,
      message: `the Formfile is ${humanBytes(bytes)}; a Formfile may be at most ${humanBytes(MAX_FORMFILE_BYTES)}`,
      hint: "keep long scripts in files of the build context and COPY them in, then RUN them",
    };
  }
  const index = firstNonText(text);
  if (index < 0) return null;
  // Lines end as the lexer ends them: CRLF, LF or a lone CR.
  const lines = text.slice(0, index).split(/\r\n|\n|\r/);
  const line = lines.length;
  const column = (lines[lines.length - 1]?.length ?? 0) + 1;
  const char = text.charAt(index);
  return {
    line,
    column,
    message:
      char === "\ufffd"
        ? "the Formfile is not valid UTF-8 text"
        : `the Formfile contains the control character ${codePointName(char)}`,
    hint: "a Formfile is a UTF-8 text file — is this a binary file, or saved in another encoding?",
  };
}

/** Replaces control characters with `\u{…}` escapes, so a diagnostic never prints them raw. */
export function escapeControlCharacters(text: string): string {
  let out = "";
  for (const char of text) {
    const code = char.codePointAt(0) ?? 0;
    out += isControl(code, false) && code !== 0x0a ? `\\u{${code.toString(16)}}` : char;
  }
  return out;
}
