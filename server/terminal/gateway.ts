import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { type RawData, type WebSocket, WebSocketServer } from "ws";
import type { Logger } from "@/core/log";
import {
  parseTerminalClientFrame,
  type TTerminalReason,
  type TTerminalServerFrame,
  ZTerminalOpenQuery,
} from "@/lib/protocol/terminal";
import {
  TerminalRefusal,
  type TerminalSession,
  type TerminalSessions,
  type TTerminalClient,
} from "./sessions";
import type { TResolveTarget } from "./target";

export type TTerminalGatewayOptions = {
  sessions: TerminalSessions;
  resolveTarget: TResolveTarget;
  /** The signed-in address of the request's session cookie, or null. */
  resolveOwner: (req: IncomingMessage) => Promise<string | null>;
  /** The console's public origin; browsers on another origin are refused. */
  origin: string;
  log: Logger;
};

/** Close codes: 1000 normal, 4001 attached elsewhere, 4003 refused (see the error frame before). */
const CLOSE_REFUSED = 4003;
const MAX_INPUT_FRAME = 64 * 1024;

function toClient(ws: WebSocket): TTerminalClient {
  return {
    sendData: (data) => {
      if (ws.readyState === ws.OPEN) ws.send(data, { binary: true });
    },
    sendControl: (frame: TTerminalServerFrame) => {
      if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(frame));
    },
    close: (code, reason) => ws.close(code, reason),
  };
}

/** Browsers may open the console's WebSockets only from its own pages. */
export function sameOrigin(req: IncomingMessage, consoleOrigin: string): boolean {
  const origin = req.headers.origin;
  // Non-browser clients send no Origin; they still need the session cookie.
  if (!origin) return true;
  if (origin === consoleOrigin) return true;
  try {
    return new URL(origin).host === req.headers.host;
  } catch {
    return false;
  }
}

/**
 * `/ws/terminal`: authenticates the browser by its session cookie, checks the instance is the
 * caller's and running, then opens (or resumes) an SSH shell on the VM and bridges it. Refusals are
 * sent as a typed `error` frame after the upgrade (a browser cannot read an HTTP error status of a
 * failed WebSocket handshake), then the socket is closed with 4003.
 */
export class TerminalGateway {
  readonly #o: TTerminalGatewayOptions;
  readonly #wss = new WebSocketServer({ noServer: true, maxPayload: MAX_INPUT_FRAME });

  constructor(options: TTerminalGatewayOptions) {
    this.#o = options;
  }

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    this.#wss.handleUpgrade(req, socket, head, (ws) => {
      void this.#onConnection(ws, req).catch((error: unknown) => {
        this.#o.log.error({ err: error }, "terminal connection failed");
        this.#refuse(ws, "internal", "The console could not open the terminal; try again.");
      });
    });
  }

  #refuse(ws: WebSocket, reason: TTerminalReason, message: string): void {
    toClient(ws).sendControl({ type: "error", reason, message });
    ws.close(CLOSE_REFUSED, reason);
  }

  async #onConnection(ws: WebSocket, req: IncomingMessage): Promise<void> {
    // Input arriving while the shell is being opened is kept and replayed in order.
    const early: [RawData, boolean][] = [];
    const collect = (data: RawData, isBinary: boolean) => early.push([data, isBinary]);
    ws.on("message", collect);
    const url = new URL(req.url ?? "/", "http://console.invalid");
    const query = ZTerminalOpenQuery.safeParse(Object.fromEntries(url.searchParams));
    if (!query.success) return this.#refuse(ws, "bad-request", "The terminal URL is malformed.");
    if (!sameOrigin(req, this.#o.origin))
      return this.#refuse(ws, "forbidden-origin", "Terminals open only from the console's own pages.");
    const owner = await this.#o.resolveOwner(req);
    if (!owner) return this.#refuse(ws, "unauthenticated", "Sign in with your wallet to open a terminal.");
    const { instance, session: sessionId, cols, rows } = query.data;
    const log = this.#o.log.child({ owner, instanceId: instance });
    let session: TerminalSession | null = null;
    let resumed = false;
    try {
      // Ownership and state are checked on every attach, resumes included: a stopped instance or a
      // transferred one must not stay reachable through an old session id.
      const target = await this.#o.resolveTarget({ owner, instanceId: instance });
      if (sessionId) {
        session = this.#o.sessions.find({ id: sessionId, owner, instanceId: instance });
        resumed = session !== null;
      }
      session ??= await this.#o.sessions.open({ owner, instanceId: instance, ...target, cols, rows });
    } catch (error) {
      if (error instanceof TerminalRefusal) {
        log.info({ reason: error.reason }, `terminal refused: ${error.message}`);
        return this.#refuse(ws, error.reason, error.message);
      }
      throw error;
    }
    if (ws.readyState !== ws.OPEN) {
      // The browser left while the shell was opening: keep it for the grace period like a drop.
      this.#o.sessions.detach(session, { sendData() {}, sendControl() {}, close() {} });
      return;
    }
    const s = session;
    const client = toClient(ws);
    ws.off("message", collect);
    const onMessage = (data: RawData, isBinary: boolean) =>
      this.#onMessage({ session: s, client, data, isBinary });
    ws.on("message", (data, isBinary) => onMessage(data, isBinary));
    ws.on("close", () => this.#o.sessions.detach(s, client));
    if (resumed) await s.shell.resize(cols, rows);
    this.#o.sessions.attach(s, client, { resumed });
    for (const [data, isBinary] of early) onMessage(data, isBinary);
  }

  #onMessage(opts: {
    session: TerminalSession;
    client: TTerminalClient;
    data: RawData;
    isBinary: boolean;
  }): void {
    const bytes = Array.isArray(opts.data)
      ? Buffer.concat(opts.data)
      : Buffer.isBuffer(opts.data)
        ? opts.data
        : Buffer.from(opts.data);
    if (opts.isBinary) {
      opts.session.shell.write(bytes);
      return;
    }
    const frame = parseTerminalClientFrame(bytes.toString("utf8"));
    if (!frame) return;
    if (frame.type === "resize") void opts.session.shell.resize(frame.cols, frame.rows);
    else if (frame.type === "ping") opts.client.sendControl({ type: "pong", t: frame.t });
  }

  close(): Promise<void> {
    for (const ws of this.#wss.clients) ws.close(1001, "console shutting down");
    return new Promise((resolve) => this.#wss.close(() => resolve()));
  }
}
