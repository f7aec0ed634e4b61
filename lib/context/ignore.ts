/**
 * `.formignore`: a gitignore subset. Supported: blank lines, `#` comments (`\#` for a literal `#`),
 * `!` negation (`\!` literal), trailing `/` for directories only, a leading or inner `/` anchoring the
 * pattern to the context root, `*`, `?`, `[abc]`/`[!a-z]` classes and `**` as a whole path segment
 * (at the start, the end or between slashes). The last matching pattern wins; an excluded directory
 * is not descended into, so files inside it cannot be re-included (as in git). `.git/` is excluded by
 * default (`!.git/` re-includes it).
 */

type TRule = { negate: boolean; dirOnly: boolean; regex: RegExp };

const DEFAULT_PATTERNS = [".git/"];

function escapeRegex(ch: string): string {
  return /[\\^$.*+?()[\]{}|/]/.test(ch) ? `\\${ch}` : ch;
}

function globToRegex(glob: string): string {
  let out = "";
  for (let i = 0; i < glob.length; i++) {
    const ch = glob[i] ?? "";
    if (ch === "*") {
      if (glob[i + 1] === "*") {
        const atStart = i === 0 || glob[i - 1] === "/";
        if (atStart && glob[i + 2] === "/") {
          out += "(?:.*/)?";
          i += 2;
        } else {
          out += ".*";
          i += 1;
        }
      } else out += "[^/]*";
    } else if (ch === "?") out += "[^/]";
    else if (ch === "[") {
      const close = glob.indexOf("]", i + 2);
      if (close === -1) out += "\\[";
      else {
        let body = glob.slice(i + 1, close);
        const negate = body.startsWith("!") || body.startsWith("^");
        if (negate) body = body.slice(1);
        out += `[${negate ? "^" : ""}${body.replace(/[\\\]^]/g, (c) => `\\${c}`)}]`;
        i = close;
      }
    } else if (ch === "\\" && i + 1 < glob.length) {
      out += escapeRegex(glob[i + 1] ?? "");
      i += 1;
    } else out += escapeRegex(ch);
  }
  return out;
}

function compile(line: string): TRule | undefined {
  let pattern = line.replace(/(?<!\\)\s+$/, "");
  if (pattern === "" || pattern.startsWith("#")) return undefined;
  let negate = false;
  if (pattern.startsWith("!")) {
    negate = true;
    pattern = pattern.slice(1);
  } else if (pattern.startsWith("\\!") || pattern.startsWith("\\#")) pattern = pattern.slice(1);
  const dirOnly = pattern.endsWith("/");
  if (dirOnly) pattern = pattern.replace(/\/+$/, "");
  if (pattern === "") return undefined;
  const anchored = pattern.includes("/");
  // Repeated `**/` mean the same as one and would make the regex backtrack polynomially.
  pattern = pattern.replace(/^\//, "").replace(/(?:\*\*\/)+/g, "**/");
  const body = globToRegex(pattern);
  return { negate, dirOnly, regex: new RegExp(anchored ? `^${body}$` : `^(?:.*/)?${body}$`) };
}

/** A compiled .formignore. Paths are context-relative POSIX paths without leading `./`. */
export type TIgnoreMatcher = {
  /** Whether this path itself is excluded (ancestors are the caller's business while walking). */
  ignores: (path: string, isDirectory: boolean) => boolean;
  /** Whether this path or any of its ancestor directories is excluded. */
  excludes: (path: string, isDirectory: boolean) => boolean;
};

/** Compiles .formignore text (plus the built-in `.git/` default) into a matcher. */
export function compileIgnore(text: string): TIgnoreMatcher {
  const rules = [...DEFAULT_PATTERNS, ...text.split(/\r?\n/)]
    .map(compile)
    .filter((r): r is TRule => r !== undefined);
  const ignores = (path: string, isDirectory: boolean): boolean => {
    let ignored = false;
    for (const rule of rules) {
      if (rule.dirOnly && !isDirectory) continue;
      if (rule.regex.test(path)) ignored = !rule.negate;
    }
    return ignored;
  };
  const excludes = (path: string, isDirectory: boolean): boolean => {
    const parts = path.split("/");
    for (let i = 1; i < parts.length; i++) if (ignores(parts.slice(0, i).join("/"), true)) return true;
    return ignores(path, isDirectory);
  };
  return { ignores, excludes };
}
