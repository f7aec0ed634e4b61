import { rm } from "node:fs/promises";
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { type WebSocket, WebSocketServer } from "ws";
import type { Logger } from "@/core/log";
import { ENTRYPOINT_UNIT } from "@/lib/formfile/guest";
import {
  APP_LOGS_PROTOCOL_VERSION,
  type TAppLogsServerFrame,
  ZAppLogsOpenQuery,
} from "@/lib/protocol/app-logs";
import type { TTerminalReason } from "@/lib/protocol/terminal";
import { AppLogStream } from "./app-logs";
import { sameOrigin } from "./gateway";
import { TerminalRefusal } from "./sessions";
import type { SshCertificateAuthority } from "./ssh-ca";
import { prepareSshSession } from "./ssh-session-files";
import type { TResolveTarget } from "./target";

export type TAppLogsGatewayOptions = {
  ca: SshCertificateAuthority;
  /** Folder of per-instance known_hosts files (shared with the terminal) and ssh error logs. */
  stateDir: string;
  resolveTarget: TResolveTarget;
  resolveOwner: (req: IncomingMessage) => Promise<string | null>;
  origin: string;
  sshPort: number;
  connectTimeoutSeconds: number;
  certificateMinutes: number;
  /** Open log streams one account may have at once. */
  maxStreamsPerOwner: number;
  bindAddress?: string;
  log: Logger;
};

const CLOSE_REFUSED = 4003;

/**
 * `/ws/app-logs`: the running app's journal for its owner, over SSH from the console as the
 * Formfile user with a short-lived certificate (the same checks as the terminal: session cookie,
 * own origin, the caller's running instance). One SSH session per open view; it ends with the view.
 */
export class AppLogsGateway {
  readonly #o: TAppLogsGatewayOptions;
  readonly #wss = new WebSocketServer({ noServer: true, maxPayload: 1024 });
  readonly #open = new Map<string, number>();

  constructor(options: TAppLogsGatewayOptions) {
    this.#o = options;
  }

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    this.#wss.handleUpgrade(req, socket, head, (ws) => {
      void this.#onConnection(ws, req).catch((error: unknown) => {
        this.#o.log.error({ err: error }, "app log connection failed");
        refuse(ws, "internal", "The console could not open the app's logs; try again.");
      });
    });
  }

  async #onConnection(ws: WebSocket, req: IncomingMessage): Promise<void> {
    const url = new URL(req.url ?? "/", "http://console.invalid");
    const query = ZAppLogsOpenQuery.safeParse(Object.fromEntries(url.searchParams));
    if (!query.success) return refuse(ws, "bad-request", "The app log URL is malformed.");
    if (!sameOrigin(req, this.#o.origin))
      return refuse(ws, "forbidden-origin", "App logs open only from the console's own pages.");
    const owner = await this.#o.resolveOwner(req);
    if (!owner) return refuse(ws, "unauthenticated", "Sign in with your wallet to read the app's logs.");
    const { instance: instanceId, lines } = query.data;
    let target: Awaited<ReturnType<TResolveTarget>>;
    try {
      target = await this.#o.resolveTarget({ owner, instanceId });
    } catch (error) {
      if (error instanceof TerminalRefusal) return refuse(ws, error.reason, error.message);
      throw error;
    }
    const open = this.#open.get(owner) ?? 0;
    if (open >= this.#o.maxStreamsPerOwner)
      return refuse(ws, "too-many-sessions", `You have ${open} app log views open; close one and retry.`);
    this.#open.set(owner, open + 1);
    const release = () => {
      const n = (this.#open.get(owner) ?? 1) - 1;
      if (n <= 0) this.#open.delete(owner);
      else this.#open.set(owner, n);
    };
    const unit = target.hasEntrypoint ? ENTRYPOINT_UNIT : null;
    const { credential, knownHostsPath, errorLogPath } = await prepareSshSession({
      ca: this.#o.ca,
      stateDir: this.#o.stateDir,
      principal: target.username,
      identity: `formation-logs-${owner}-${instanceId}-${Date.now()}`,
      validMinutes: this.#o.certificateMinutes,
      instanceId,
    });
    const stream = AppLogStream.spawn({
      host: target.host,
      port: this.#o.sshPort,
      username: target.username,
      keyPath: credential.keyPath,
      certPath: credential.certPath,
      knownHostsPath,
      errorLogPath,
      connectTimeoutSeconds: this.#o.connectTimeoutSeconds,
      unit,
      lines,
      ...(this.#o.bindAddress ? { bindAddress: this.#o.bindAddress } : {}),
    });
    // The key only matters while ssh authenticates; it is gone before anything else happens.
    const disposeKey = setTimeout(
      () => void credential.dispose(),
      this.#o.connectTimeoutSeconds * 1000 + 5_000,
    );
    send(ws, { type: "ready", v: APP_LOGS_PROTOCOL_VERSION, instanceId, unit });
    stream.on("data", (chunk) => {
      if (ws.readyState === ws.OPEN) ws.send(chunk, { binary: true });
    });
    stream.on("exit", (exit) => {
      clearTimeout(disposeKey);
      void credential.dispose();
      void rm(errorLogPath, { force: true });
      release();
      if (exit.reason) refuse(ws, exit.reason, exit.message);
      else {
        send(ws, { type: "end", message: exit.message });
        ws.close(1000, "log stream ended");
      }
    });
    ws.on("close", () => stream.close());
    this.#o.log.info({ owner, instanceId, unit }, "app log stream opened");
  }

  close(): Promise<void> {
    for (const ws of this.#wss.clients) ws.close(1001, "console shutting down");
    return new Promise((resolve) => this.#wss.close(() => resolve()));
  }
}

function send(ws: WebSocket, frame: TAppLogsServerFrame): void {
  if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(frame));
}

function refuse(ws: WebSocket, reason: TTerminalReason, message: string): void {
  send(ws, { type: "error", reason, message });
  ws.close(CLOSE_REFUSED, reason);
}
