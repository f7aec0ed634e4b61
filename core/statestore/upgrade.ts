import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { WebSocketServer } from "ws";
import type { StateStore } from "./store";

export const STORE_WS_PATH = "/ws/store";

/**
 * An `upgrade` listener for the console's HTTP server: serves `/ws/store` with the store and
 * returns false for every other path so the caller can pass the request on (e.g. to Next).
 */
export function createStoreUpgradeHandler(
  store: StateStore,
  opts: { path?: string; maxPayload?: number } = {},
): (req: IncomingMessage, socket: Duplex, head: Buffer) => boolean {
  const path = opts.path ?? STORE_WS_PATH;
  const wss = new WebSocketServer({ noServer: true, maxPayload: opts.maxPayload ?? 16 * 1024 * 1024 });
  return (req, socket, head) => {
    if (new URL(req.url ?? "/", "http://localhost").pathname !== path) return false;
    wss.handleUpgrade(req, socket, head, (ws) =>
      store.handleConnection(ws, `${req.socket.remoteAddress}:${req.socket.remotePort}`),
    );
    return true;
  };
}
