import { spawn } from "node:child_process";
import { access, constants } from "node:fs/promises";
import { coreEnv, inheritedEnv } from "@/core/env";
import { FormationError } from "@/lib/errors";

/** A command that exited non-zero, was killed, or could not start. Carries the command line. */
export class CommandError extends FormationError<"COMMAND_FAILED"> {
  override readonly name = "CommandError";
  constructor(
    readonly argv: readonly string[],
    readonly exitCode: number | null,
    readonly signal: string | null,
    readonly stderrTail: string,
    options: { cause?: unknown } = {},
  ) {
    const how = exitCode === null ? `killed by ${signal ?? "signal"}` : `exit code ${exitCode}`;
    const tail = stderrTail.trim() ? `: ${stderrTail.trim().split("\n").slice(-3).join(" | ")}` : "";
    const short = `\`${commandLine(argv)}\` failed (${how})`;
    super("COMMAND_FAILED", short, {
      message: `${short}${tail}`,
      details: { command: commandLine(argv), exitCode, signal },
      ...options,
    });
  }
}

/** The command was stopped because its AbortSignal fired. */
export class CommandAbortedError extends FormationError<"COMMAND_ABORTED"> {
  override readonly name = "CommandAbortedError";
  constructor(readonly argv: readonly string[]) {
    super("COMMAND_ABORTED", `\`${commandLine(argv)}\` was cancelled`, {
      details: { command: commandLine(argv) },
    });
  }
}

export type TRunOptions = {
  cwd?: string;
  env?: Record<string, string>;
  /** Called once per output line (stdout and stderr interleaved as they arrive). */
  onLine?: (line: string) => void;
  signal?: AbortSignal;
  input?: string;
  /** Kill the whole process group after this long. */
  timeoutMs?: number;
  /** Do not throw on a non-zero exit; return the code. */
  allowFailure?: boolean;
  /** An open file descriptor the child gets as its fd 3 (QEMU's `-incoming fd:3`). */
  fd3?: number;
};

export type TRunResult = { exitCode: number; stdout: string; stderr: string };

/** Shell-like rendering of argv for error messages and logs. */
export function commandLine(argv: readonly string[]): string {
  return argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", "'\\''")}'`)).join(" ");
}

/**
 * Runs argv without a shell. The child gets its own process group so an abort (or timeout) kills
 * everything it started — apt, dpkg maintainer scripts, a RUN step's background jobs — not just the
 * direct child.
 */
export function run(argv: readonly string[], options: TRunOptions = {}): Promise<TRunResult> {
  const [file, ...args] = argv;
  if (!file) return Promise.reject(new Error("run: empty argv"));
  if (options.signal?.aborted) return Promise.reject(new CommandAbortedError(argv));
  const inherited = inheritedEnv();
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      cwd: options.cwd,
      // `options.env` replaces the environment (build steps get a clean one); NODE_ENV is carried
      // because Next's ambient types make it a required ProcessEnv key.
      env: { ...(options.env ?? inherited), NODE_ENV: inherited.NODE_ENV },
      detached: true,
      // fd 3 is not opened in the child unless asked for ("ignore").
      stdio: ["pipe", "pipe", "pipe", options.fd3 ?? "ignore"],
    });
    const { stdin: childIn, stdout: childOut, stderr: childErr } = child;
    if (!childIn || !childOut || !childErr) throw new Error("run: the child's stdio pipes were not made");
    let stdout = "";
    let stderr = "";
    let aborted = false;
    const pending = { out: "", err: "" };
    const killGroup = () => {
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, "SIGKILL");
      } catch {
        // The group is already gone.
      }
    };
    const onAbort = () => {
      aborted = true;
      killGroup();
    };
    options.signal?.addEventListener("abort", onAbort, { once: true });
    const timer = options.timeoutMs === undefined ? undefined : setTimeout(onAbort, options.timeoutMs);
    const feed = (key: "out" | "err", chunk: string) => {
      if (!options.onLine) return;
      const text = pending[key] + chunk;
      const lines = text.split("\n");
      pending[key] = lines.pop() ?? "";
      for (const line of lines) options.onLine(line.replace(/\r$/, ""));
    };
    childOut.setEncoding("utf8").on("data", (c: string) => {
      if (stdout.length < 1_000_000) stdout += c;
      feed("out", c);
    });
    childErr.setEncoding("utf8").on("data", (c: string) => {
      stderr = (stderr + c).slice(-20_000);
      feed("err", c);
    });
    // stdin is always a pipe (closed at once when there is no input) so children never read ours.
    childIn.on("error", () => undefined);
    childIn.end(options.input ?? "");
    child.on("error", (err) => {
      options.signal?.removeEventListener("abort", onAbort);
      if (timer) clearTimeout(timer);
      reject(new CommandError(argv, null, null, String(err), { cause: err }));
    });
    child.on("close", (code, sig) => {
      options.signal?.removeEventListener("abort", onAbort);
      if (timer) clearTimeout(timer);
      // Grandchildren (daemons a RUN step forked) may still hold the group: end them too.
      killGroup();
      if (options.onLine) {
        if (pending.out) options.onLine(pending.out);
        if (pending.err) options.onLine(pending.err);
      }
      if (aborted) return reject(new CommandAbortedError(argv));
      if (code === 0 || (options.allowFailure && code !== null)) {
        return resolve({ exitCode: code ?? 0, stdout, stderr });
      }
      reject(new CommandError(argv, code, sig, stderr));
    });
  });
}

/** Whether a command exists on PATH or in the sbin directories (no shell). */
export async function which(name: string): Promise<string | null> {
  const dirs = new Set([
    ...coreEnv().PATH.split(":").filter(Boolean),
    "/usr/sbin",
    "/usr/bin",
    "/sbin",
    "/bin",
  ]);
  for (const dir of dirs) {
    const p = `${dir}/${name}`;
    try {
      await access(p, constants.X_OK);
      return p;
    } catch {
      // Not in this directory.
    }
  }
  return null;
}
