import { commandLine } from "../host/exec";
import { shQuote } from "./render";

/** Marker the script prints on stderr when a part fails, so the error names that part's command. */
export const FAILED_MARK = "formation-script-part-failed";
/** Not in the base64 alphabet, so no line of encoded content can end the here-document early. */
const HEREDOC_END = "FORMATION_B64_END";

/**
 * Every program a build step starts costs ~50–100 ms of emulated CPU under TCG (exec, dynamic
 * linking): the helpers use shell builtins where they can (contents written by printf, a parent
 * directory by parameter expansion and made only when missing; `fm_has` looks a name up in
 * /etc/passwd or /etc/group).
 */
const PRELUDE = `set -e
fm_part=0
trap 'rc=$?; [ "$rc" -eq 0 ] || echo "${FAILED_MARK} $fm_part" >&2' EXIT
fm_write() {
  case "$1" in */*) fm_dir=\${1%/*} ;; *) fm_dir=. ;; esac
  [ -z "$fm_dir" ] || [ -d "$fm_dir" ] || mkdir -p -- "$fm_dir"
  if [ "$3" = append ]; then printf '%s' "$5" >> "$1"; else printf '%s' "$5" > "$1"; fi
  [ -z "$2" ] || chmod "$2" -- "$1"
  [ -z "$4" ] || chown -- "$4" "$1"
}
fm_write_b64() {
  fm_write "$1" "" "$3" "" ""
  base64 -d >> "$1"
  [ -z "$2" ] || chmod "$2" -- "$1"
  [ -z "$4" ] || chown -- "$4" "$1"
}
fm_has() {
  while IFS=: read -r fm_name fm_rest; do [ "$fm_name" = "$2" ] && return 0; done < "$1"
  return 1
}
`;

type TPart = { label: string; command: string; text: string };

/**
 * Several file writes and commands run by one shell as one build step (in the build VM): a
 * Formfile's USER and configuration phases. Contents travel as single-quoted shell words written by
 * printf (base64 in a here-document when they hold a NUL), so any character is safe; a failing part
 * prints a marker naming itself.
 */
export class RootScript {
  readonly #parts: TPart[] = [];

  /** Writes (or appends) a file, creating its parent directories. */
  write(opts: {
    label: string;
    path: string;
    content: string;
    mode?: string;
    append?: boolean;
    owner?: string;
  }): this {
    const args = [opts.path, opts.mode ?? "", opts.append ? "append" : "", opts.owner ?? ""].map(shQuote);
    // A shell word holds any character but NUL; such content travels base64 encoded instead.
    const text = opts.content.includes("\0")
      ? `fm_write_b64 ${args.join(" ")} <<'${HEREDOC_END}'\n${base64Lines(opts.content)}${HEREDOC_END}`
      : `fm_write ${args.join(" ")} ${shQuote(opts.content)}`;
    return this.#push({ label: opts.label, command: `write ${opts.path}`, text });
  }

  /** Runs argv (no shell interpretation); stdin is /dev/null so it cannot eat the script. */
  command(label: string, argv: readonly string[]): this {
    return this.#push({
      label,
      command: commandLine(argv),
      text: `${argv.map(shQuote).join(" ")} </dev/null`,
    });
  }

  /**
   * Runs a shell snippet with positional parameters `args` in a subshell; `stdin`, when given,
   * is the snippet's standard input (else /dev/null).
   */
  shell(opts: { label: string; snippet: string; args?: readonly string[]; stdin?: string }): this {
    const args = (opts.args ?? []).map(shQuote).join(" ");
    const sub = `(set -e; set -- ${args}; ${opts.snippet})`;
    // The here-document's body follows the whole command line.
    const body =
      opts.stdin === undefined
        ? `${sub} </dev/null`
        : opts.stdin.includes("\0")
          ? `base64 -d <<'${HEREDOC_END}' | ${sub}\n${base64Lines(opts.stdin)}${HEREDOC_END}`
          : `printf '%s' ${shQuote(opts.stdin)} | ${sub}`;
    return this.#push({ label: opts.label, command: opts.snippet, text: body });
  }

  get size(): number {
    return this.#parts.length;
  }

  /** The whole script (exposed for unit tests). */
  text(): string {
    return PRELUDE + this.#parts.map((p, i) => `fm_part=${i}\n${p.text}\n`).join("");
  }

  /** The part a failure marker in stderr points at. */
  failedPart(stderr: string): { label: string; command: string } | null {
    const m = new RegExp(`${FAILED_MARK} (\\d+)`).exec(stderr);
    const part = m?.[1] === undefined ? undefined : this.#parts[Number(m[1])];
    return part === undefined ? null : { label: part.label, command: part.command };
  }

  #push(part: TPart): this {
    this.#parts.push(part);
    return this;
  }
}

function base64Lines(content: string): string {
  const b64 = Buffer.from(content, "utf8").toString("base64");
  return b64.length === 0 ? "" : `${b64.replace(/.{1,76}/g, "$&\n")}`;
}
