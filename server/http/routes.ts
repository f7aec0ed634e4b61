import type { IncomingMessage, ServerResponse } from "node:http";
import type { TConsoleRuntime } from "./console-runtime";

/**
 * Plain HTTP endpoints that do not fit tRPC (streamed uploads/downloads such as build contexts
 * and images). Registered per console by modules: `runtime.http.register("/api/builds/upload", h)`.
 * A handler may throw AppError; the server maps it to a JSON error with the right status.
 */
export type THttpHandler = (ctx: {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  runtime: TConsoleRuntime;
}) => Promise<void> | void;

export class HttpRouteRegistry {
  readonly #routes: { prefix: string; handler: THttpHandler }[] = [];

  register(prefix: string, handler: THttpHandler): void {
    if (!prefix.startsWith("/")) throw new Error(`route prefix must start with '/': ${prefix}`);
    if (prefix === "/api/trpc" || prefix === "/healthz")
      throw new Error(`route prefix is reserved: ${prefix}`);
    this.#routes.push({ prefix, handler });
    this.#routes.sort((a, b) => b.prefix.length - a.prefix.length);
  }

  match(pathname: string): THttpHandler | undefined {
    return this.#routes.find((r) => pathname === r.prefix || pathname.startsWith(`${r.prefix}/`))?.handler;
  }
}
