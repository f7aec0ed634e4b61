import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

const BIN = fileURLToPath(new URL("../bin.mjs", import.meta.url));

/** One parsed pino line of the agent's stdout (non-JSON lines are kept as `{ msg: line }`). */
export type TAgentLogLine = { msg?: string; level?: number; [key: string]: unknown };

export interface TAgentProcess {
  child: ChildProcess;
  pid: number;
  lines: TAgentLogLine[];
  /** Resolves with the first log line (past or future) matching `match`, rejects at the deadline or exit. */
  waitForLog(match: (line: TAgentLogLine) => boolean, timeoutMs?: number): Promise<TAgentLogLine>;
  /** SIGTERM (graceful) and wait for exit; SIGKILL after `timeoutMs`. Resolves with the exit code. */
  stop(timeoutMs?: number): Promise<number | null>;
}

/**
 * Test helper: spawn `node-agent/bin.mjs run --config …` as a real child process and wait until it
 * logs "connected to console" (pass `waitForConnected: false` to return right after spawning).
 * The e2e suites use this to run the same daemon an operator runs.
 */
export async function startAgentProcess(options: {
  configPath: string;
  password: string;
  env?: Record<string, string>;
  args?: string[];
  waitForConnected?: boolean;
  timeoutMs?: number;
}): Promise<TAgentProcess> {
  const child = spawn(
    process.execPath,
    [BIN, "run", "--config", options.configPath, ...(options.args ?? [])],
    {
      env: { ...process.env, LOG_LEVEL: "debug", ...options.env, NODE_AGENT_PASSWORD: options.password },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  const lines: TAgentLogLine[] = [];
  const waiters = new Set<{ match: (l: TAgentLogLine) => boolean; resolve: (l: TAgentLogLine) => void }>();
  const exitWaiters = new Set<(code: number | null) => void>();
  let exited = false;
  let exitCode: number | null = null;
  const onLine = (text: string) => {
    let line: TAgentLogLine;
    try {
      line = JSON.parse(text) as TAgentLogLine;
    } catch {
      line = { msg: text };
    }
    lines.push(line);
    for (const waiter of waiters) {
      if (waiter.match(line)) {
        waiters.delete(waiter);
        waiter.resolve(line);
      }
    }
  };
  if (child.stdout) createInterface({ input: child.stdout }).on("line", onLine);
  if (child.stderr) createInterface({ input: child.stderr }).on("line", (text) => onLine(text));
  child.on("exit", (code) => {
    exited = true;
    exitCode = code;
    for (const wake of exitWaiters) wake(code);
  });

  const waitForLog = (
    match: (line: TAgentLogLine) => boolean,
    timeoutMs = 60_000,
  ): Promise<TAgentLogLine> => {
    const seen = lines.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const tail = () =>
        lines
          .slice(-15)
          .map((l) => l.msg ?? JSON.stringify(l))
          .join("\n  ");
      const waiter = {
        match,
        resolve: (line: TAgentLogLine) => {
          clearTimeout(timer);
          exitWaiters.delete(onExit);
          resolve(line);
        },
      };
      const onExit = (code: number | null) => {
        clearTimeout(timer);
        waiters.delete(waiter);
        reject(
          new Error(
            `node-agent exited with code ${code} before the expected log line; last lines:\n  ${tail()}`,
          ),
        );
      };
      const timer = setTimeout(() => {
        waiters.delete(waiter);
        exitWaiters.delete(onExit);
        reject(new Error(`no matching node-agent log line within ${timeoutMs} ms; last lines:\n  ${tail()}`));
      }, timeoutMs);
      waiters.add(waiter);
      if (exited) onExit(exitCode);
      else exitWaiters.add(onExit);
    });
  };

  const stop = (timeoutMs = 30_000): Promise<number | null> => {
    if (exited) return Promise.resolve(exitCode);
    return new Promise((resolve) => {
      const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
      exitWaiters.add((code) => {
        clearTimeout(timer);
        resolve(code);
      });
      child.kill("SIGTERM");
    });
  };

  const agent: TAgentProcess = { child, pid: child.pid ?? -1, lines, waitForLog, stop };
  if (options.waitForConnected !== false) {
    try {
      await waitForLog((line) => line.msg === "connected to console", options.timeoutMs ?? 60_000);
    } catch (error) {
      await stop(5_000);
      throw error;
    }
  }
  return agent;
}
