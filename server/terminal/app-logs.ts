import { type ChildProcess, spawn } from "node:child_process";
import { EventEmitter } from "node:events";
import { inheritedEnv } from "@/core/env";
import { interpretSshExit, sshConnectArgs, type TShellExit, type TSshConnectOptions } from "./ssh-shell";

/** How long the stream waits for the guest's journal to move to /var before following it anyway. */
const FLUSH_WAIT_STEPS = 75; // × 0.2 s
/** Created by journald once the runtime journal has moved to /var. */
export const JOURNAL_FLUSHED = "/run/systemd/journal/flushed";

/**
 * The remote command (run by the Formfile user's shell): the unit's journal (or the whole current
 * boot's when the Formfile has no ENTRYPOINT), `lines` of backlog, then followed. Formfile users may
 * read the journal (the image puts them in `systemd-journal`).
 *
 * Two quirks of the guest's journalctl (systemd 252) shape it:
 * - It starts once the guest's journal has moved from /run to /var (`systemd-journal-flush`, which
 *   sets /run/systemd/journal/flushed). sshd starts early in the boot, before that flush, and a
 *   `journalctl --follow` opened on the runtime journal misses the entries written after the move
 *   (systemd#8262). Bounded: after 15 s it follows whatever journal there is.
 * - `--follow --lines=N` with a filter that matches nothing yet never prints what matches later
 *   (the app's unit has not started when the panel opens right after the boot). With no entry yet
 *   the backlog is `all` (there is none), which follows correctly.
 */
export function journalCommand(opts: { unit: string | null; lines: number }): string {
  if (opts.unit !== null && !/^[\w@.-]+$/.test(opts.unit)) throw new Error(`not a unit name: ${opts.unit}`);
  const journalctl = ["journalctl", "--no-pager", "--output=short-iso"];
  const filter = opts.unit ? [`--unit=${opts.unit}`] : ["--boot"];
  const probe = [...journalctl, "--quiet", "--lines=1", ...filter].join(" ");
  const follow = [...journalctl, '--lines="$n"', "--follow", ...filter].join(" ");
  return [
    "i=0;",
    `while [ ! -e ${JOURNAL_FLUSHED} ] && [ $i -lt ${FLUSH_WAIT_STEPS} ]; do sleep 0.2; i=$((i+1)); done;`,
    `n=${opts.lines}; ${probe} | grep -q . || n=all;`,
    `exec ${follow}`,
  ].join(" ");
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
    const child = spawn("ssh", ["-T", ...sshConnectArgs(opts), journalCommand(opts)], {
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
