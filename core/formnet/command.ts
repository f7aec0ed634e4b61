import { spawn } from "node:child_process";
import { FormationError } from "../../lib/errors";

/** A host command (ip, wg, iptables, wireguard-go …) failed; carries the command line and exit code. */
export class FormnetCommandError extends FormationError<"COMMAND_FAILED"> {
  override readonly name = "FormnetCommandError";
  constructor(
    readonly commandLine: string,
    readonly exitCode: number | null,
    readonly stderr: string,
    options: { cause?: unknown } = {},
  ) {
    const short = `Command failed (exit ${exitCode ?? "signal"}): ${commandLine}`;
    super("COMMAND_FAILED", short, {
      message: `${short}${stderr ? `\n${stderr.trim()}` : ""}`,
      details: { commandLine, exitCode },
      ...options,
    });
  }
}

export type TRunOptions = {
  /** Run inside this network namespace (`ip netns exec NS …`). */
  netns?: string;
  /** Written to the command's stdin. */
  input?: string;
  timeoutMs?: number;
};

/** Argument vector that runs `cmd args` inside `netns` when one is given. */
export function inNetns(netns: string | undefined, cmd: string, args: readonly string[]): [string, string[]] {
  return netns === undefined ? [cmd, [...args]] : ["ip", ["netns", "exec", netns, cmd, ...args]];
}

function quote(arg: string): string {
  return /^[A-Za-z0-9_./:=,@+-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", "'\\''")}'`;
}

/** Shell-like rendering of a command for error messages and logs. */
export function commandLine(cmd: string, args: readonly string[]): string {
  return [cmd, ...args].map(quote).join(" ");
}

/** Run a command to completion without a shell; resolves with stdout, rejects with `FormnetCommandError`. */
export function run(cmd: string, args: readonly string[], options: TRunOptions = {}): Promise<string> {
  const [file, argv] = inNetns(options.netns, cmd, args);
  const line = commandLine(file, argv);
  return new Promise((resolve, reject) => {
    const child = spawn(file, argv, {
      stdio: ["pipe", "pipe", "pipe"],
      timeout: options.timeoutMs ?? 30_000,
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      stderr += chunk;
    });
    child.on("error", (error) => reject(new FormnetCommandError(line, null, stderr, { cause: error })));
    child.on("close", (code) => {
      if (code === 0) resolve(stdout);
      else reject(new FormnetCommandError(line, code, stderr));
    });
    child.stdin.on("error", () => {
      // The command may exit before reading stdin; its exit code reports the real problem.
    });
    child.stdin.end(options.input ?? "");
  });
}

/** Like `run` but resolves to false instead of throwing when the command exits non-zero. */
export async function succeeds(
  cmd: string,
  args: readonly string[],
  options: TRunOptions = {},
): Promise<boolean> {
  try {
    await run(cmd, args, options);
    return true;
  } catch (error) {
    if (error instanceof FormnetCommandError) return false;
    throw error;
  }
}

/** Poll `check` until it returns a value other than undefined, or fail after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined> | T | undefined,
  options: { timeoutMs: number; intervalMs?: number },
): Promise<T> {
  const deadline = Date.now() + options.timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() >= deadline) {
      throw new Error(`Timed out after ${options.timeoutMs} ms waiting for ${what}`, { cause: lastError });
    }
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 50));
  }
}
