import { waitForTcp } from "@/core/net/tcp-connect";
import { run } from "./exec";

export type TSshTarget = { host: string; user: string; keyPath: string; port?: number };

/** Runs a command over SSH with the system client (host keys are per VM and fresh: not pinned). */
export function sshRun(target: TSshTarget, command: string, opts: { timeoutMs?: number } = {}) {
  return run(
    [
      "ssh",
      "-i",
      target.keyPath,
      "-p",
      String(target.port ?? 22),
      "-o",
      "StrictHostKeyChecking=no",
      "-o",
      "UserKnownHostsFile=/dev/null",
      "-o",
      "BatchMode=yes",
      "-o",
      "ConnectTimeout=3",
      "-o",
      "LogLevel=ERROR",
      `${target.user}@${target.host}`,
      command,
    ],
    { timeoutMs: opts.timeoutMs ?? 20_000, allowFailure: true },
  );
}

/** Polls until `ssh … true` succeeds; resolves with the elapsed milliseconds, rejects at the deadline. */
export async function waitForSsh(
  target: TSshTarget,
  opts: { timeoutMs: number; intervalMs?: number },
): Promise<number> {
  const started = Date.now();
  const deadline = started + opts.timeoutMs;
  let last = "";
  while (Date.now() < deadline) {
    // Short TCP probes first: the client's own connect would wait for the kernel's SYN
    // retransmissions (1 s, 3 s) when its first SYN reached a guest still without its address.
    if (!(await waitForTcp({ host: target.host, port: target.port ?? 22, deadline }))) {
      last ||= `port ${target.port ?? 22} never accepted a TCP connection`;
      break;
    }
    // Once connected, key exchange inside a TCG guest on a loaded host can take many seconds, and
    // killing it early would never succeed.
    const r = await sshRun(target, "true", { timeoutMs: 45_000 }).catch((err: unknown) => ({
      exitCode: -1,
      stdout: "",
      stderr: String(err),
    }));
    if (r.exitCode === 0) return Date.now() - started;
    last = r.stderr.trim();
    await new Promise((res) => setTimeout(res, opts.intervalMs ?? 250));
  }
  throw new Error(
    `SSH to ${target.user}@${target.host} not ready after ${opts.timeoutMs} ms (last error: ${last})`,
  );
}
