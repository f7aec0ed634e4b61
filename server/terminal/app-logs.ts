import { type ChildProcess, spawn } from "node:child_process";
import { EventEmitter } from "node:events";
import { inheritedEnv } from "@/core/env";
import { interpretSshExit, sshConnectArgs, type TShellExit, type TSshConnectOptions } from "./ssh-shell";

/**
 * The remote command: the unit's journal (or the whole current boot's when the Formfile has no
 * ENTRYPOINT), `lines` of backlog, then followed. Formfile users may read the journal (the image puts
 * them in `systemd-journal`).
 */
export function journalCommand(opts: { unit: string | null; lines: number }): string[] {
  return [
    "journalctl",
    "--no-pager",
    "--output=short-iso",
    `--lines=${opts.lines}`,
    "--follow",
    ...(opts.unit ? [`--unit=${opts.unit}`] : ["--boot"]),
  ];
}

/**
 * The running app's logs, streamed over SSH as the Formfile user (`ssh -T … journalctl -f`): no
 * pseudo-terminal, so the bytes are the journal's text. Ends when the VM or the connection does.
 */
export class AppLogStream extends EventEmitter<{ data: [Buffer]; exit: [TShellExit] }> {
  readonly #child: ChildProcess;
  #sawOutput = false;
  #exited: TShellExit | null = null;

  private constructor(child: ChildProcess, errorLogPath: string) {
    super();
    this.#child = child;
    child.stdout?.on("data", (chunk: Buffer) => {
      this.#sawOutput = true;
      this.emit("data", chunk);
    });
    child.on("error", (error) =>
      this.#finish({ code: null, reason: "internal", message: `cannot run ssh: ${error.message}` }),
    );
    child.on("exit", (code) => {
      void interpretSshExit({ code, sawOutput: this.#sawOutput, errorLogPath, what: "the log stream" }).then(
        (exit) => this.#finish(exit),
      );
    });
  }

  static spawn(opts: TSshConnectOptions & { unit: string | null; lines: number }): AppLogStream {
    const child = spawn("ssh", ["-T", ...sshConnectArgs(opts), ...journalCommand(opts)], {
      stdio: ["ignore", "pipe", "ignore"],
      env: inheritedEnv({ LANG: "C.UTF-8" }),
    });
    return new AppLogStream(child, opts.errorLogPath);
  }

  get exited(): TShellExit | null {
    return this.#exited;
  }

  get connected(): boolean {
    return this.#sawOutput;
  }

  close(): void {
    if (!this.#exited) this.#child.kill("SIGTERM");
  }

  #finish(exit: TShellExit): void {
    if (this.#exited) return;
    this.#exited = exit;
    this.emit("exit", exit);
  }
}
