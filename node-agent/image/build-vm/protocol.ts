/**
 * What the build VM says on its serial console besides the steps' own output: one marker line per
 * event. A hostile step can print these too, but it can only lie about its own build (whose image
 * it already controls); the host never trusts them for anything beyond that build's outcome.
 */
export const BUILD_MARK = "@@formation-build";

/** Where the build VM reaches the agent's egress proxy (QEMU user networking guestfwd). */
export const GUEST_PROXY_ADDR = "10.0.2.100";
export const GUEST_PROXY_PORT = 3128;
export const GUEST_PROXY = `http://${GUEST_PROXY_ADDR}:${GUEST_PROXY_PORT}`;

export type TBuildEvent =
  | { kind: "ready" }
  | { kind: "begin"; step: number }
  | { kind: "end"; step: number; exitCode: number }
  | { kind: "done"; exitCode: number }
  | { kind: "platform-error"; message: string };

/** Parses one serial line; null when it is ordinary output. */
export function parseBuildEvent(line: string): TBuildEvent | null {
  if (!line.startsWith(`${BUILD_MARK} `)) return null;
  const [kind, ...rest] = line
    .slice(BUILD_MARK.length + 1)
    .trim()
    .split(" ");
  const num = (s: string | undefined) => (s !== undefined && /^\d{1,9}$/.test(s) ? Number(s) : null);
  switch (kind) {
    case "ready":
      return { kind: "ready" };
    case "begin": {
      const step = num(rest[0]);
      return step === null ? null : { kind: "begin", step };
    }
    case "end": {
      const step = num(rest[0]);
      const exitCode = num(rest[1]);
      return step === null || exitCode === null ? null : { kind: "end", step, exitCode };
    }
    case "done": {
      const exitCode = num(rest[0]);
      return exitCode === null ? null : { kind: "done", exitCode };
    }
    case "platform-error":
      return { kind: "platform-error", message: rest.join(" ") };
    default:
      return null;
  }
}

/**
 * A serial line as it may enter the build log: terminal control sequences and other control bytes
 * removed (a step must not be able to rewrite the console's log view), length bounded.
 */
export function sanitizeLogLine(line: string): string {
  return (
    line
      // CSI / OSC escape sequences, then any remaining C0/C1 control byte except tab.
      // biome-ignore lint/suspicious/noControlCharactersInRegex: stripping control bytes is the point
      .replace(/\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(\x07|\x1b\\)?/g, "")
      // biome-ignore lint/suspicious/noControlCharactersInRegex: stripping control bytes is the point
      .replace(/[\x00-\x08\x0b-\x1f\x7f-\x9f]/g, "")
      .slice(0, 4000)
  );
}
