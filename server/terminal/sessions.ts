import { randomBytes } from "node:crypto";
import { rm } from "node:fs/promises";
import type { Logger } from "@/core/log";
import { FormationError } from "@/lib/errors";
import type { TTerminalReason, TTerminalServerFrame } from "@/lib/protocol/terminal";
import { Scrollback } from "./scrollback";
import type { SshCertificateAuthority } from "./ssh-ca";
import { prepareSshSession } from "./ssh-session-files";
import { SshShell, type TShellExit } from "./ssh-shell";

/** A terminal that could not be opened, with the reason shown to the user. */
export class TerminalRefusal extends FormationError<TTerminalReason> {
  override readonly name = "TerminalRefusal";
  constructor(reason: TTerminalReason, message: string, options: { cause?: unknown } = {}) {
    super(reason, message, options);
  }

  /** The refusal's code: the reason the browser is told. */
  get reason(): TTerminalReason {
    return this.code;
  }
}

/** The browser side of a session: a WebSocket, reduced to what the session needs. */
export type TTerminalClient = {
  sendData(data: Buffer): void;
  sendControl(frame: TTerminalServerFrame): void;
  close(code: number, reason: string): void;
};

export type TTerminalSessionsOptions = {
  ca: SshCertificateAuthority;
  /** Folder of per-instance known_hosts files. */
  stateDir: string;
  graceMs: number;
  scrollbackBytes: number;
  maxSessionsPerOwner: number;
  certificateMinutes: number;
  connectTimeoutSeconds: number;
  sshPort: number;
  bindAddress?: string;
  log: Logger;
};

export type TOpenSession = {
  owner: string;
  instanceId: string;
  username: string;
  host: string;
  cols: number;
  rows: number;
};

/** One live shell and, while a browser is attached, its client. */
export class TerminalSession {
  readonly id = randomBytes(18).toString("base64url");
  readonly scrollback: Scrollback;
  client: TTerminalClient | null = null;
  graceTimer: NodeJS.Timeout | null = null;

  constructor(
    readonly spec: TOpenSession,
    readonly shell: SshShell,
    scrollbackBytes: number,
  ) {
    this.scrollback = new Scrollback(scrollbackBytes);
  }
}

/**
 * Terminal sessions of this console process. A session outlives its WebSocket for `graceMs`, so a
 * reload or a short network drop re-attaches to the same shell (its scrollback is replayed first).
 */
export class TerminalSessions {
  readonly #o: TTerminalSessionsOptions;
  readonly #sessions = new Map<string, TerminalSession>();

  constructor(options: TTerminalSessionsOptions) {
    this.#o = options;
  }

  get graceSeconds(): number {
    return Math.round(this.#o.graceMs / 1000);
  }

  get size(): number {
    return this.#sessions.size;
  }

  /** The session `id` if it exists and belongs to `owner` and `instanceId`. */
  find(opts: { id: string; owner: string; instanceId: string }): TerminalSession | null {
    const s = this.#sessions.get(opts.id);
    if (!s || s.spec.owner !== opts.owner || s.spec.instanceId !== opts.instanceId || s.shell.exited)
      return null;
    return s;
  }

  /** Issues a certificate, starts ssh and resolves once the remote shell answers. */
  async open(spec: TOpenSession): Promise<TerminalSession> {
    const mine = [...this.#sessions.values()].filter((s) => s.spec.owner === spec.owner).length;
    if (mine >= this.#o.maxSessionsPerOwner) {
      throw new TerminalRefusal(
        "too-many-sessions",
        `You have ${mine} open terminals; close one (they end ${this.graceSeconds} s after their tab closes).`,
      );
    }
    const identity = `formation-${spec.owner}-${spec.instanceId}-${Date.now()}`;
    const { credential, knownHostsPath, errorLogPath } = await prepareSshSession({
      ca: this.#o.ca,
      stateDir: this.#o.stateDir,
      principal: spec.username,
      identity,
      validMinutes: this.#o.certificateMinutes,
      instanceId: spec.instanceId,
    });
    const shell = SshShell.spawn({
      host: spec.host,
      port: this.#o.sshPort,
      username: spec.username,
      keyPath: credential.keyPath,
      certPath: credential.certPath,
      knownHostsPath,
      errorLogPath,
      cols: spec.cols,
      rows: spec.rows,
      connectTimeoutSeconds: this.#o.connectTimeoutSeconds,
      ...(this.#o.bindAddress ? { bindAddress: this.#o.bindAddress } : {}),
    });
    const session = new TerminalSession(spec, shell, this.#o.scrollbackBytes);
    const log = this.#o.log.child({ terminal: session.id, instanceId: spec.instanceId, owner: spec.owner });
    shell.on("data", (chunk) => {
      session.scrollback.push(chunk);
      session.client?.sendData(chunk);
    });
    shell.on("exit", (exit) => {
      void rm(errorLogPath, { force: true });
      if (this.#sessions.has(session.id)) this.#ended(session, exit);
    });
    try {
      await this.#firstOutput(shell);
    } finally {
      // The key is only needed during authentication; the running SSH session does not use it.
      await credential.dispose();
    }
    const early = shell.exited;
    if (early) throw new TerminalRefusal(early.reason ?? "internal", early.message);
    this.#sessions.set(session.id, session);
    log.info({ host: spec.host, username: spec.username }, "terminal opened");
    return session;
  }

  #firstOutput(shell: SshShell): Promise<void> {
    return new Promise((resolve, reject) => {
      const onData = () => {
        shell.off("exit", onExit);
        resolve();
      };
      const onExit = (exit: TShellExit) => {
        shell.off("data", onData);
        reject(new TerminalRefusal(exit.reason ?? "internal", exit.message));
      };
      shell.once("data", onData);
      shell.once("exit", onExit);
    });
  }

  /** Attaches a browser: `ready`, the scrollback, then live output; replaces an older attachment. */
  attach(session: TerminalSession, client: TTerminalClient, opts: { resumed: boolean }): void {
    if (session.graceTimer) clearTimeout(session.graceTimer);
    session.graceTimer = null;
    const previous = session.client;
    session.client = client;
    previous?.close(4001, "the terminal was opened in another tab");
    client.sendControl({
      type: "ready",
      v: 1,
      sessionId: session.id,
      resumed: opts.resumed,
      instanceId: session.spec.instanceId,
      username: session.spec.username,
      host: session.spec.host,
      graceSeconds: this.graceSeconds,
    });
    // The client clears its screen on `ready`; then the kept output (the whole bounded history on a
    // resume, the first prompt on a new session) is replayed before live output.
    const history = session.scrollback.snapshot();
    if (history.length > 0) client.sendData(history);
  }

  /** The browser went away: keep the shell for the grace period, then end it. */
  detach(session: TerminalSession, client: TTerminalClient): void {
    if (session.client !== client) return;
    session.client = null;
    if (session.shell.exited) return;
    session.graceTimer = setTimeout(() => {
      this.#o.log.info({ terminal: session.id }, "terminal grace period over; closing the shell");
      session.shell.close();
    }, this.#o.graceMs);
    session.graceTimer.unref();
  }

  #ended(session: TerminalSession, exit: TShellExit): void {
    if (session.graceTimer) clearTimeout(session.graceTimer);
    this.#sessions.delete(session.id);
    const client = session.client;
    session.client = null;
    if (client) {
      if (exit.reason) client.sendControl({ type: "error", reason: exit.reason, message: exit.message });
      client.sendControl({ type: "exit", code: exit.code, message: exit.message });
      client.close(1000, "shell exited");
    }
    this.#o.log.info({ terminal: session.id, code: exit.code, reason: exit.reason }, "terminal ended");
  }

  /** Ends every shell (console shutdown) and waits for the ssh processes to exit. */
  async closeAll(): Promise<void> {
    const all = [...this.#sessions.values()];
    await Promise.all(
      all.map(
        (s) =>
          new Promise<void>((resolve) => {
            if (s.shell.exited) return resolve();
            s.shell.once("exit", () => resolve());
            s.shell.close();
          }),
      ),
    );
  }
}
