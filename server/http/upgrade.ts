import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import type { TConsoleRuntime } from "./console-runtime";

/**
 * WebSocket (HTTP upgrade) routing. Gateways register a path prefix (`/ws/agent`, `/ws/terminal`)
 * and receive matching upgrades with the running console; typically they own a
 * `new WebSocketServer({ noServer: true })` and call `wss.handleUpgrade(req, socket, head, …)`.
 * Upgrades that match no prefix go to Next.js (its dev server uses one for hot reload) or are
 * refused.
 */
export type TUpgradeHandler = (ctx: {
  req: IncomingMessage;
  socket: Duplex;
  head: Buffer;
  runtime: TConsoleRuntime;
}) => void | Promise<void>;

export type TUpgradeRoute = { prefix: string; handler: TUpgradeHandler };

export class UpgradeRegistry {
  readonly #routes: TUpgradeRoute[] = [];

  register(prefix: string, handler: TUpgradeHandler): void {
    if (!prefix.startsWith("/")) throw new Error(`upgrade prefix must start with '/': ${prefix}`);
    if (this.#routes.some((r) => r.prefix === prefix))
      throw new Error(`upgrade prefix already registered: ${prefix}`);
    this.#routes.push({ prefix, handler });
    // Longest prefix first, so /ws/agent/v2 can coexist with /ws/agent.
    this.#routes.sort((a, b) => b.prefix.length - a.prefix.length);
  }

  match(pathname: string): TUpgradeRoute | undefined {
    return this.#routes.find((r) => pathname === r.prefix || pathname.startsWith(`${r.prefix}/`));
  }

  routes(): readonly TUpgradeRoute[] {
    return this.#routes;
  }
}

const globalRoutes: TUpgradeRoute[] = [];

/**
 * Registers an upgrade route for every console started after this call (module side effect of
 * the gateway's module). Prefer a TConsoleModule (server/http/modules.ts) when the gateway has
 * state to start and stop.
 */
export function registerUpgrade(prefix: string, handler: TUpgradeHandler): void {
  globalRoutes.push({ prefix, handler });
}

export function globalUpgradeRoutes(): readonly TUpgradeRoute[] {
  return globalRoutes;
}
