import { type ChildProcess, execFile, spawn } from "node:child_process";
import { EventEmitter } from "node:events";
import { readFile, readlink } from "node:fs/promises";
import { promisify } from "node:util";
import { inheritedEnv } from "@/core/env";
import type { TTerminalReason } from "@/lib/protocol/terminal";

const run = promisify(execFile);

/** How the console's OpenSSH client reaches a VM (the terminal's shell and the app-log stream). */
export type TSshConnectOptions = {
  host: string;
  port: number;
  username: string;
  keyPath: string;
  certPath: string;
  /** Per-instance known_hosts: the first key seen is pinned (trust on first use per instance). */
  knownHostsPath: string;
  /** Where ssh writes its own diagnostics (`-E`), read back to explain a failure. */
  errorLogPath: string;
  connectTimeoutSeconds: number;
  /** Source address to bind (the console's formnet address when several members share a host). */
  bindAddress?: string;
};

export type TSshShellOptions = TSshConnectOptions & { cols: number; rows: number };

export type TShellExit = { code: number | null; reason: TTerminalReason | null; message: string };

const SAFE_ARG = /^[A-Za-z0-9_./:@%+=,-]+$/;

function quote(arg: string): string {
  if (!SAFE_ARG.test(arg)) throw new Error(`refusing unsafe ssh argument: ${JSON.stringify(arg)}`);
  return arg;
}

/** Maps ssh's own error output to a refusal reason the UI can explain. */
export function classifySshFailure(text: string): { reason: TTerminalReason; message: string } {
  const line = text.trim().split("\n").filter(Boolean).at(-1) ?? "ssh exited without a message";
  if (/Permission denied|Too many authentication failures|certificate.*(expired|invalid)/i.test(text))
    return { reason: "auth-refused", message: `The VM's sshd refused the console's certificate: ${line}` };
  if (/Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED/i.test(text))
    return {
      reason: "host-key-changed",
      message: `The VM's SSH host key changed since it was pinned: ${line}`,
    };
  if (
    /Connection refused|No route to host|timed out|Network is unreachable|Connection closed|Connection reset|kex_exchange_identification|Could not resolve/i.test(
      text,
    )
  )
    return {
      reason: "formnet-unreachable",
      message: `The console cannot reach the VM over formnet: ${line}`,
    };
  return { reason: "internal", message: `ssh failed: ${line}` };
}

/**
 * The OpenSSH client's options and destination (every argument shell-safe, so they can also be
 * joined into the command line `script` runs): certificate login, the per-instance pinned host key,
 * keepalives, and the source address when the console is a formnet member.
 */
export function sshConnectArgs(opts: TSshConnectOptions): string[] {
  return [
    "-F",
    "/dev/null",
    ...["-o", "BatchMode=yes", "-o", "LogLevel=ERROR", "-E", quote(opts.errorLogPath)],
    ...["-o", "StrictHostKeyChecking=accept-new", "-o", `UserKnownHostsFile=${quote(opts.knownHostsPath)}`],
    ...["-o", "GlobalKnownHostsFile=/dev/null", "-o", "UpdateHostKeys=no", "-o", "IdentitiesOnly=yes"],
    ...["-o", `IdentityFile=${quote(opts.keyPath)}`, "-o", `CertificateFile=${quote(opts.certPath)}`],
    ...["-o", `ConnectTimeout=${opts.connectTimeoutSeconds}`, "-o", "ServerAliveInterval=15"],
    ...["-o", "ServerAliveCountMax=3", "-o", "ControlMaster=no", "-o", "SendEnv=LANG"],
    ...(opts.bindAddress ? ["-b", quote(opts.bindAddress)] : []),
    ...["-p", String(opts.port), "-l", quote(opts.username), quote(opts.host)],
  ];
}

/**
 * An interactive shell on a VM through the system OpenSSH client. ssh2 (pure JS) cannot
 * authenticate with OpenSSH certificates (it names the signature after the certificate type,
 * which sshd rejects), so the console runs `ssh -tt` with `CertificateFile=`. `script(1)`
 * gives ssh a local pseudo-terminal: without one ssh could not learn the window size, and
 * resizing works by setting the size of that pty (`stty -F`), whose SIGWINCH makes ssh send a
 * window-change request. ssh puts the local pty in raw mode, so bytes pass through unchanged.
 */
export class SshShell extends EventEmitter<{ data: [Buffer]; exit: [TShellExit] }> {
  readonly #child: ChildProcess;
  readonly #opts: TSshShellOptions;
  #ptyPath: string | null = null;
  #sshPid: number | null = null;
  #exited: TShellExit | null = null;
  #sawOutput = false;
  #resizing = 0;
  #order: Promise<void> = Promise.resolve();

  private constructor(child: ChildProcess, opts: TSshShellOptions) {
    super();
    this.#child = child;
    this.#opts = opts;
    child.stdout?.on("data", (chunk: Buffer) => {
      this.#sawOutput = true;
      this.emit("data", chunk);
    });
    child.on("exit", (code) => void this.#onExit(code));
    child.on("error", (error) => {
      if (!this.#exited)
        this.#finish({ code: null, reason: "internal", message: `cannot run ssh: ${error.message}` });
    });
  }

  static spawn(opts: TSshShellOptions): SshShell {
    const ssh = ["ssh", "-tt", ...sshConnectArgs(opts)].join(" ");
    // ssh copies the local pty's modes to the remote pty, then switches the local one to raw
    // itself: so the local pty starts sane (echo, onlcr, UTF-8 erase) and sized. Input is only
    // written after the remote shell's first output, when ssh is already in raw mode.
    const command = `stty sane iutf8 rows ${opts.rows} cols ${opts.cols} && exec ${ssh}`;
    const child = spawn("script", ["-q", "-e", "-f", "-c", command, "/dev/null"], {
      stdio: ["pipe", "pipe", "pipe"],
      env: inheritedEnv({ SHELL: "/bin/sh", TERM: "xterm-256color", LANG: "C.UTF-8" }),
    });
    return new SshShell(child, opts);
  }

  get exited(): TShellExit | null {
    return this.#exited;
  }

  /** True once the remote side sent anything (the session is authenticated and running). */
  get connected(): boolean {
    return this.#sawOutput;
  }

  write(data: Buffer | string): void {
    if (this.#exited) return;
    // Keystrokes typed after a resize must reach the shell after it (e.g. `stty size`).
    if (this.#resizing > 0) this.#order = this.#order.then(() => void this.#child.stdin?.write(data));
    else this.#child.stdin?.write(data);
  }

  /** Resizes the remote pty (through the local one; ssh forwards the change). */
  resize(cols: number, rows: number): Promise<void> {
    if (this.#exited) return Promise.resolve();
    this.#resizing++;
    this.#order = this.#order
      .then(async () => {
        const pty = await this.#localPty();
        if (!pty) return;
        await run("stty", ["-F", pty, "rows", String(rows), "cols", String(cols)], { timeout: 5000 });
      })
      .catch(() => undefined)
      .finally(() => {
        this.#resizing--;
      });
    return this.#order;
  }

  /** Ends the shell (the remote session is closed with the connection). */
  close(): void {
    if (this.#exited) return;
    if (this.#sshPid) process.kill(this.#sshPid, "SIGTERM");
    this.#child.kill("SIGTERM");
  }

  async #localPty(): Promise<string | null> {
    if (this.#ptyPath) return this.#ptyPath;
    const pid = this.#child.pid;
    if (!pid) return null;
    const children = await readFile(`/proc/${pid}/task/${pid}/children`, "utf8").catch(() => "");
    const first = Number.parseInt(children.trim().split(/\s+/)[0] ?? "", 10);
    if (!Number.isFinite(first)) return null;
    const target = await readlink(`/proc/${first}/fd/0`).catch(() => null);
    if (!target?.startsWith("/dev/pts/")) return null;
    this.#sshPid = first;
    this.#ptyPath = target;
    return target;
  }

  async #onExit(code: number | null): Promise<void> {
    if (this.#exited) return;
    this.#finish(
      await interpretSshExit({
        code,
        sawOutput: this.#sawOutput,
        errorLogPath: this.#opts.errorLogPath,
        what: "the shell",
      }),
    );
  }

  #finish(exit: TShellExit): void {
    this.#exited = exit;
    this.emit("exit", exit);
  }
}

/**
 * What an ended ssh client means for the user: the remote command's own end, a closed connection
 * of a running session (VM stopped or unreachable), or a refusal classified from ssh's error log.
 */
export async function interpretSshExit(opts: {
  code: number | null;
  /** Whether the remote side sent anything (the session was authenticated and running). */
  sawOutput: boolean;
  errorLogPath: string;
  /** What ran, for the messages ("the shell", "the log stream"). */
  what: string;
}): Promise<TShellExit> {
  const { code, sawOutput, what } = opts;
  if (code === 0 || (sawOutput && code !== 255)) {
    return { code, reason: null, message: `${what} exited${code === null ? "" : ` with status ${code}`}` };
  }
  const log = await readFile(opts.errorLogPath, "utf8").catch(() => "");
  if (code === 255 && sawOutput && log.trim() === "") {
    // A running session whose connection closed (ssh logs that only at INFO level): the VM was
    // stopped or rebooted, or the network dropped. Not a refusal.
    return {
      code,
      reason: null,
      message: "the connection to the VM closed (stopped, rebooted or unreachable)",
    };
  }
  if (code === 255 || !sawOutput) return { code, ...classifySshFailure(log) };
  return { code, reason: null, message: `${what} exited with status ${code}` };
}
