import { readFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import type { Duplex } from "node:stream";
import { fileURLToPath } from "node:url";
import type { AnyRouter } from "@trpc/server";
import { nodeHTTPRequestHandler } from "@trpc/server/adapters/node-http";
import type { Logger } from "pino";
import { createLogger } from "@/core/log";
import { appRouter } from "@/server/api/root";
import { createContext } from "@/server/api/trpc";
import { securePrivateData } from "@/server/data-dir";
import { createDatabase, pingDatabase } from "@/server/db/client";
import { migrateDatabase, migrationsUpToDate } from "@/server/db/migrate";
import { disableNextTelemetry, loadEnv, type TEnv } from "@/server/env";
import { findAppError } from "@/server/errors";
import { createServices, type TServices, type TServicesOptions } from "@/server/services/services";
import { admitHttpRoute, admitTrpc, startBodyDeadline } from "./admission";
import { createCallerResolver } from "./caller";
import type { TConsoleModule, TConsoleRuntime } from "./console-runtime";
import { consoleModules } from "./modules";
import { RequestLimits } from "./rate-limit";
import { HttpRouteRegistry } from "./routes";
import { FALLBACK_CONTENT_SECURITY_POLICY, SECURITY_HEADERS } from "./security-headers";
import { sendError, sendJson } from "./send";
import { globalUpgradeRoutes, UpgradeRegistry } from "./upgrade";
import { VirtualHostRegistry } from "./virtual-hosts";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const MAX_TRPC_BODY_BYTES = 1024 * 1024;
const NONCE_PRUNE_INTERVAL_MS = 10 * 60_000;
const LIMITS_LOG_INTERVAL_MS = 60_000;

export type TStartConsoleOptions = {
  /** Defaults to `loadEnv()` (process.env). */
  env?: TEnv;
  /** Overrides env.port (0 = any free port, for tests). */
  port?: number;
  host?: string;
  /** Serve the Next.js UI (default true). `false` = API + WebSockets only, for fast tests. */
  withNext?: boolean;
  /** Next dev mode (default: NODE_ENV !== "production"). */
  dev?: boolean;
  /** Apply pending migrations first (default true). */
  migrate?: boolean;
  /** Defaults to server/http/modules.ts. */
  modules?: TConsoleModule[];
  /** Control-plane settings over the environment's, and admission (tests: short timings, allow all). */
  controlPlane?: Pick<TServicesOptions, "config" | "admission">;
  logger?: Logger;
  /** Serve another router at /api/trpc (tests mount extra procedures); defaults to appRouter. */
  router?: AnyRouter;
};

export type TRunningConsole = {
  url: string;
  port: number;
  runtime: TConsoleRuntime;
  close(): Promise<void>;
};

type TNextApp = {
  prepare(): Promise<void>;
  close?(): Promise<void>;
  getRequestHandler(): (req: IncomingMessage, res: ServerResponse) => Promise<void>;
  getUpgradeHandler(): (req: IncomingMessage, socket: Duplex, head: Buffer) => Promise<void>;
};

async function startNext(opts: { dev: boolean; host: string; port: number }): Promise<TNextApp> {
  disableNextTelemetry();
  const { default: next } = await import("next");
  const app: TNextApp = next({ dev: opts.dev, dir: root, hostname: opts.host, port: opts.port });
  await app.prepare();
  return app;
}

function packageVersion(): string {
  const pkg: unknown = JSON.parse(readFileSync(path.join(root, "package.json"), "utf8"));
  return typeof pkg === "object" && pkg !== null && "version" in pkg && typeof pkg.version === "string"
    ? pkg.version
    : "0.0.0";
}

function headerGetter(req: IncomingMessage) {
  return {
    get(name: string): string | null {
      const value = req.headers[name.toLowerCase()];
      if (value === undefined) return null;
      return Array.isArray(value) ? value.join(", ") : value;
    },
  };
}

function appendSetCookie(res: ServerResponse, cookie: string): void {
  const existing = res.getHeader("set-cookie");
  const list = existing === undefined ? [] : Array.isArray(existing) ? existing : [String(existing)];
  res.setHeader("set-cookie", [...list, cookie]);
}

/**
 * Starts one console: migrate → database → auth → modules → (Next) → HTTP server with tRPC at
 * /api/trpc, /healthz, module routes and WebSocket upgrades. `close()` undoes it all.
 */
export async function startConsole(opts: TStartConsoleOptions = {}): Promise<TRunningConsole> {
  const env = opts.env ?? loadEnv();
  const logger = opts.logger ?? createLogger("console");
  const host = opts.host ?? env.host;
  const withNext = opts.withNext ?? true;
  const migrateStarted = Date.now();
  securePrivateData(env);
  const db = createDatabase(env.databaseUrl);
  try {
    if ((opts.migrate ?? true) && !(await migrationsUpToDate(db, env.databaseUrl))) {
      await migrateDatabase({ databaseUrl: env.databaseUrl, dataDir: env.dataDir });
    }
  } catch (error) {
    await db.$disconnect();
    throw error;
  }
  securePrivateData(env);
  logger.info({ ms: Date.now() - migrateStarted, provider: env.databaseProvider }, "database ready");

  const closers: (() => Promise<void> | void)[] = [];
  closers.push(() => db.$disconnect());
  let services: TServices;
  try {
    services = await createServices({ db, env, logger, ...opts.controlPlane });
  } catch (error) {
    await db.$disconnect();
    throw error;
  }
  // Registered before the modules, so it runs after they stopped (closers run in reverse).
  closers.push(() => services.close());
  const upgrades = new UpgradeRegistry();
  for (const r of globalUpgradeRoutes()) upgrades.register(r.prefix, r.handler);
  const limits = new RequestLimits({ config: env.limits, logger: logger.child({ component: "limits" }) });
  const runtime: TConsoleRuntime = {
    env,
    db,
    logger,
    services,
    limits,
    callers: createCallerResolver({ auth: services.auth, limits }),
    upgrades,
    http: new HttpRouteRegistry(),
    virtualHosts: new VirtualHostRegistry(),
    listening: { port: null },
    version: packageVersion(),
    startedAt: new Date(),
    onClose: (fn) => closers.push(fn),
  };

  const runClosers = async () => {
    for (const fn of closers.splice(0).reverse()) {
      try {
        await fn();
      } catch (err) {
        logger.warn({ err }, "error while closing the console");
      }
    }
  };

  // Consumed nonces only matter until their signature expires; prune them (and stale SIWE nonces).
  const prune = setInterval(() => {
    services.auth
      .pruneNonces(new Date(Date.now() - 60_000))
      .catch((err: unknown) => logger.warn({ err }, "nonce pruning failed"));
  }, NONCE_PRUNE_INTERVAL_MS);
  prune.unref();
  closers.push(() => clearInterval(prune));
  const limitsLog = setInterval(() => limits.logRejectionTotals(), LIMITS_LOG_INTERVAL_MS);
  limitsLog.unref();
  closers.push(() => clearInterval(limitsLog));

  let server: Server | undefined;
  const extraServers: Server[] = [];
  try {
    for (const mod of opts.modules ?? consoleModules) {
      const stop = await mod.start(runtime);
      if (stop) closers.push(stop);
      logger.info({ module: mod.name }, "module started");
    }
    const nextApp = withNext
      ? await startNext({ dev: opts.dev ?? env.nodeEnv !== "production", host, port: opts.port ?? env.port })
      : null;
    if (nextApp?.close) closers.push(() => nextApp.close?.());
    // Headers must arrive promptly; bodies get a deadline per route (admission.ts), so Node's
    // whole-request timeout is only a backstop above the longest upload allowed. It ends when the
    // request is received: long downloads and upgraded WebSockets are not affected.
    const serverTimeouts = {
      headersTimeout: env.limits.headersMs,
      requestTimeout: env.limits.blobBodyMs + env.limits.headersMs,
    };
    const listen = async (listenHost: string, listenPort: number): Promise<Server> => {
      const httpServer = createServer(serverTimeouts, (req, res) => {
        handleRequest({ req, res, runtime, nextApp, router: opts.router ?? appRouter }).catch(
          (err: unknown) => sendError(res, err, logger),
        );
      });
      httpServer.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
        handleUpgrade({ req, socket, head, runtime, nextApp }).catch((err: unknown) => {
          logger.warn({ err, url: req.url }, "upgrade failed");
          socket.destroy();
        });
      });
      await new Promise<void>((resolve, reject) => {
        httpServer.once("error", reject);
        httpServer.listen(listenPort, listenHost, () => {
          httpServer.off("error", reject);
          resolve();
        });
      });
      return httpServer;
    };
    server = await listen(host, opts.port ?? env.port);
    // Further addresses on the same port (FORMATION_ALSO_LISTEN: the multinode network's underlay,
    // where node hosts reach the console as operators reach a public one).
    const boundPort = (server.address() as AddressInfo).port;
    runtime.listening.port = boundPort;
    for (const extra of env.alsoListen) extraServers.push(await listen(extra, boundPort));
  } catch (error) {
    server?.close();
    for (const extra of extraServers) extra.close();
    await runClosers();
    throw error;
  }

  const port = (server.address() as AddressInfo).port;
  const url = `http://${host.includes(":") ? `[${host}]` : host}:${port}`;
  logger.info({ url, withNext, origin: env.consoleOrigin }, "console listening");
  const httpServer = server;
  let closing: Promise<void> | undefined;
  return {
    url,
    port,
    runtime,
    close() {
      closing ??= (async () => {
        const all = [httpServer, ...extraServers];
        const stopped = Promise.all(all.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
        for (const s of all) s.closeIdleConnections();
        // Modules close their WebSockets in their closers; then drop what is left.
        await runClosers();
        for (const s of all) s.closeAllConnections();
        await stopped;
        logger.info("console stopped");
      })();
      return closing;
    },
  };
}

async function handleRequest(opts: {
  req: IncomingMessage;
  res: ServerResponse;
  runtime: TConsoleRuntime;
  nextApp: TNextApp | null;
  router: AnyRouter;
}): Promise<void> {
  const { req, res, runtime, nextApp } = opts;
  // Deployed apps on their own host names (the ingress edge): nothing of the console applies.
  const vhost = runtime.virtualHosts.match(req.headers.host);
  if (vhost) {
    vhost.request(req, res);
    return;
  }
  // Every response carries them; proxy.ts replaces the fallback CSP on pages with a nonce policy.
  for (const [name, value] of Object.entries(SECURITY_HEADERS)) res.setHeader(name, value);
  res.setHeader("Content-Security-Policy", FALLBACK_CONTENT_SECURITY_POLICY);
  const url = new URL(req.url ?? "/", "http://console.invalid");
  if (url.pathname === "/healthz") {
    const dbOk = await pingDatabase(runtime.db);
    sendJson(res, dbOk ? 200 : 503, {
      status: dbOk ? "ok" : "degraded",
      db: dbOk,
      version: runtime.version,
      uptimeSeconds: Math.round((Date.now() - runtime.startedAt.getTime()) / 1000),
    });
    return;
  }
  if (url.pathname === "/api/trpc" || url.pathname.startsWith("/api/trpc/")) {
    const deadline = startBodyDeadline({ req, res, runtime, kind: "json" });
    const caller = await admitTrpc({ req, res, url, runtime, deadline });
    if (!caller) return;
    await nodeHTTPRequestHandler({
      router: opts.router,
      req,
      res,
      path: url.pathname.slice("/api/trpc/".length),
      maxBodySize: MAX_TRPC_BODY_BYTES,
      // admitTrpc already refused larger batches with a clearer message; this is the backstop.
      maxBatchSize: runtime.env.limits.trpcBatch,
      createContext: ({ req: r, res: s }) =>
        createContext(runtime, {
          headers: headerGetter(r),
          setCookie: (c) => appendSetCookie(s, c),
          caller,
        }),
      onError: ({ error, path: p }) => {
        if (error.code !== "INTERNAL_SERVER_ERROR") return;
        // A dependency the procedure reported as unreachable (chain, node) is an operational
        // condition the user already sees explained: one line, not a stack trace.
        const app = findAppError(error);
        if (app?.code === "UNAVAILABLE") {
          runtime.logger.warn(
            { path: p, code: app.code, reason: app.message },
            "tRPC dependency unavailable",
          );
        } else {
          runtime.logger.error({ err: error, path: p }, "tRPC error");
        }
      },
    });
    return;
  }
  const route = runtime.http.match(url.pathname);
  if (route) {
    const deadline = startBodyDeadline({ req, res, runtime, kind: "blob" });
    if (!(await admitHttpRoute({ req, res, runtime }))) return;
    try {
      await route({ req, res, url, runtime });
    } catch (error) {
      // The deadline answered 408 and cut the body off: the handler's read error is expected.
      if (!deadline.expired) throw error;
    }
    return;
  }
  if (nextApp) {
    await nextApp.getRequestHandler()(req, res);
    return;
  }
  sendJson(res, 404, { error: { appCode: "NOT_FOUND", message: `No route for ${url.pathname}` } });
}

async function handleUpgrade(opts: {
  req: IncomingMessage;
  socket: Duplex;
  head: Buffer;
  runtime: TConsoleRuntime;
  nextApp: TNextApp | null;
}): Promise<void> {
  const { req, socket, head, runtime, nextApp } = opts;
  const vhost = runtime.virtualHosts.match(req.headers.host);
  if (vhost) {
    vhost.upgrade(req, socket, head);
    return;
  }
  const url = new URL(req.url ?? "/", "http://console.invalid");
  const route = runtime.upgrades.match(url.pathname);
  if (route) {
    await route.handler({ req, socket, head, runtime });
    return;
  }
  if (nextApp) {
    await nextApp.getUpgradeHandler()(req, socket, head);
    return;
  }
  socket.end("HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
}
