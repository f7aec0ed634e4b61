import { escapeControlCharacters } from "./text";

/** A problem found in a Formfile: 1-based `line:column` of the offending token, what is wrong, how to fix it. */
export type TDiagnostic = {
  line: number;
  column: number;
  message: string;
  hint?: string;
};

/** A source position (1-based). */
export type TPosition = { line: number; column: number };

/**
 * Formats a diagnostic as `PATH:LINE:COLUMN: message (hint)`, the shape editors and CI annotate.
 * Line 0 means "the whole file" (e.g. a policy limit on a resource the file left at its default).
 */
export function formatDiagnostic(path: string, d: TDiagnostic): string {
  const where = d.line > 0 ? `${path}:${d.line}:${d.column}` : path;
  // Messages quote the user's text: never print its control bytes raw to a terminal.
  const text = d.hint ? `${where}: ${d.message} — ${d.hint}` : `${where}: ${d.message}`;
  return escapeControlCharacters(text);
}

/** Levenshtein distance, used for "did you mean …?" hints. */
export function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      cur[j] = Math.min((prev[j] ?? 0) + 1, (cur[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + cost);
    }
    prev = cur;
  }
  return prev[b.length] ?? 0;
}

/** The closest candidate within edit distance 2 (3 for words of 9+ letters), if any. */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  const limit = word.length >= 9 ? 3 : 2;
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const candidate of candidates) {
    // The length gap bounds the distance from below, so long garbage skips the quadratic work.
    if (Math.abs(candidate.length - word.length) > limit) continue;
    const d = editDistance(word.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return bestDistance <= limit ? best : undefined;
}
