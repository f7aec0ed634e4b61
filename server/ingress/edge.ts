import { Agent, type ClientRequest, type IncomingMessage, type ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { Readable } from "node:stream";
import { createProxyServer } from "http-proxy-3";
import type { Logger } from "@/core/log";
import { parseAppHost } from "@/lib/ingress/app-host";
import type { HealthChecker } from "./health-checker";
import { sendEdgePage } from "./pages";
import type { RouteTable, TAppRoute, TReplicaTarget } from "./route-table";
import type { TrafficStats } from "./traffic";

/** Where a custom domain points (server/ingress/domains). */
export type TDomainTarget = { deploymentId: string; port: number | null };

export type TEdgeOptions = {
  routes: RouteTable;
  health: HealthChecker;
  traffic: TrafficStats;
  appsDomain: string;
  /** Verified custom domains by host name (lowercase, no port). */
  domain: (host: string) => TDomainTarget | undefined;
  /** Source address towards replicas (the console's formnet address when it is a member). */
  localAddress: () => string | undefined;
  connectTimeoutMs: number;
  /** Connect timeout of a request's last possible attempt (no replica left to fail over to). */
  lastConnectTimeoutMs: number;
  suspectMs: number;
  retries: number;
  log: Logger;
};

/** Request methods retried on another replica when the first could not be reached (no body). */
const IDEMPOTENT = new Set(["GET", "HEAD", "OPTIONS"]);
/** Errors that say for sure the replica cannot be reached: out of rotation at once. */
const UNREACHABLE = new Set(["ECONNREFUSED", "EHOSTUNREACH", "EHOSTDOWN", "ENETUNREACH"]);
/**
 * Errors that a dead host causes, but a swamped app too (a full accept queue drops SYNs; a server
 * may close a pooled connection as it is reused): the replica is checked before it goes out.
 */
const DOUBTFUL = new Set(["ECONNRESET", "ETIMEDOUT", "EPIPE", "ECONNTIMEOUT"]);
/** Errors after which an idempotent request is tried on another replica. */
const CONNECTION_ERRORS = new Set([...UNREACHABLE, ...DOUBTFUL, "EREPLICADOWN"]);

type TRequestContext = {
  req: IncomingMessage;
  res: ServerResponse;
  route: TAppRoute;
  port: number;
  idempotent: boolean;
  tried: Set<string>;
  retries: number;
  started: number;
  protocol: string;
  served: TReplicaTarget | null;
  clientGone: boolean;
};

type TAttempt = {
  ctx: TRequestContext;
  replica: TReplicaTarget;
  proxyReq: ClientRequest | null;
  responded: boolean;
  settled: boolean;
  timers: NodeJS.Timeout[];
  /** Longest wait for the TCP connection of this attempt. */
  connectMs: number;
};

/**
 * Keep-alive agent that hands each new upstream request to whoever asked for it: http-proxy-3
 * creates the request inside `web()` without returning it, and `addRequest` runs synchronously
 * there, so the edge holds every attempt's request from its first moment (to cut it on demand).
 */
class CapturingAgent extends Agent {
  capture: ((req: ClientRequest) => void) | null = null;

  constructor(options: ConstructorParameters<typeof Agent>[0]) {
    super(options);
    // `addRequest` is how ClientRequest hands itself to its agent (stable since Node 0.x and what
    // agent-base builds on) but absent from @types/node.
    const self = this as unknown as { addRequest: (req: ClientRequest, options: object) => void };
    const original = self.addRequest.bind(this);
    self.addRequest = (req, opts) => {
      const capture = this.capture;
      this.capture = null;
      capture?.(req);
      original(req, opts);
    };
  }
}

function errorCode(error: unknown): string {
  if (error && typeof error === "object" && "code" in error && typeof error.code === "string")
    return error.code;
  return error instanceof Error && /socket hang up/.test(error.message) ? "ECONNRESET" : "EPROXY";
}

function edgeError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

/**
 * The ingress edge: routes app hosts (`<name>-<app id>.<apps domain>`, custom domains) to the
 * healthy replicas of their deployment over formnet with http-proxy-3, round-robin. A request
 * that could not reach its replica — refused, unreachable, no TCP connection within
 * `connectTimeoutMs`, or waiting past `suspectMs` on a replica whose host then fails a TCP probe —
 * marks that replica down; idempotent requests without a body are retried on another replica, so
 * a dead host costs them latency, not an error. WebSocket upgrades are proxied too.
 */
export class Edge {
  readonly #o: TEdgeOptions;
  readonly #proxy = createProxyServer({ xfwd: true });
  /** Keep-alive connections to replicas; those of a replica marked down are dropped. */
  readonly #agent = new CapturingAgent({
    keepAlive: true,
    maxSockets: 256,
    maxFreeSockets: 64,
    timeout: 60_000,
  });
  readonly #attempts = new Map<IncomingMessage, TAttempt>();
  readonly #inflight = new Map<string, Set<TAttempt>>();
  readonly #cursor = new Map<string, number>();
  /** Replicas whose liveness is being checked after a doubtful failure: others are preferred. */
  readonly #checking = new Set<string>();
  readonly #unsubscribe: () => void;

  constructor(options: TEdgeOptions) {
    this.#o = options;
    this.#proxy.on("proxyRes", (_proxyRes, req, res) => {
      const attempt = this.#attempts.get(req);
      if (!attempt) return;
      attempt.responded = true;
      attempt.ctx.served = attempt.replica;
      res.setHeader("x-formation-instance", attempt.replica.instanceId);
      this.#settle(attempt);
    });
    this.#proxy.on("proxyReqWs", (proxyReq) => this.#connectDeadline(proxyReq, this.#o.lastConnectTimeoutMs));
    this.#proxy.on("error", (error) => this.#o.log.warn({ err: error }, "edge proxy error"));
    this.#unsubscribe = options.health.onChange((h, change) => {
      if (change === "state" && h.state === "unhealthy") this.#replicaDown(h.instanceId);
    });
  }

  /** True when `host` is an app host of the apps domain or a verified custom domain. */
  claims(host: string | undefined): boolean {
    if (!host) return false;
    if (parseAppHost(host, this.#o.appsDomain)) return true;
    return this.#o.domain(hostName(host)) !== undefined;
  }

  handle(req: IncomingMessage, res: ServerResponse, protocol = "http"): void {
    const started = performance.now();
    const host = hostOf(req);
    const target = this.#resolve(host);
    if (!target) {
      sendEdgePage(res, 404, "No app here", `Nothing is deployed at ${hostName(host ?? "")}.`);
      return;
    }
    const { route, port } = target;
    if (port === undefined || !route.ports.includes(port)) {
      const ports = route.ports.length > 0 ? `it EXPOSEs ${route.ports.join(", ")}` : "it EXPOSEs no port";
      sendEdgePage(res, 404, "No such port", `${route.name} does not serve port ${port ?? "—"}: ${ports}.`);
      return;
    }
    const bodyless =
      req.headers["transfer-encoding"] === undefined &&
      (req.headers["content-length"] === undefined || req.headers["content-length"] === "0");
    const ctx: TRequestContext = {
      req,
      res,
      route,
      port,
      idempotent: bodyless && IDEMPOTENT.has(req.method ?? ""),
      tried: new Set(),
      retries: 0,
      started,
      protocol,
      served: null,
      clientGone: false,
    };
    res.once("close", () => {
      ctx.clientGone = !res.writableFinished;
      this.#o.traffic.record(route.deploymentId, {
        at: new Date(),
        method: req.method ?? "GET",
        path: (req.url ?? "/").split("?")[0]?.slice(0, 200) ?? "/",
        status: ctx.clientGone && !res.headersSent ? 499 : res.statusCode,
        ms: Math.round((performance.now() - started) * 10) / 10,
        instanceId: ctx.served?.instanceId ?? null,
        retries: ctx.retries,
        client: req.socket.remoteAddress ?? "",
        protocol,
      });
    });
    this.#attempt(ctx);
  }

  upgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    const started = performance.now();
    const target = this.#resolve(hostOf(req));
    const port = target?.port;
    const replica = target && port !== undefined ? this.#pick(target.route, port, new Set()) : undefined;
    if (!target || port === undefined || !replica) {
      socket.end("HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\ncontent-length: 0\r\n\r\n");
      return;
    }
    this.#proxy.ws(
      req,
      socket,
      head,
      { target: `http://${replica.ip}:${port}`, ...this.#local() },
      (error) => {
        const code = errorCode(error);
        this.#judge(replica, port, code, `WebSocket to :${port}: ${code}`);
      },
    );
    this.#o.traffic.record(target.route.deploymentId, {
      at: new Date(),
      method: "GET",
      path: (req.url ?? "/").split("?")[0]?.slice(0, 200) ?? "/",
      status: 101,
      ms: Math.round((performance.now() - started) * 10) / 10,
      instanceId: replica.instanceId,
      retries: 0,
      client: req.socket.remoteAddress ?? "",
      protocol: "ws",
    });
  }

  close(): void {
    this.#unsubscribe();
    this.#agent.destroy();
  }

  #local(): { localAddress?: string } {
    const address = this.#o.localAddress();
    return address ? { localAddress: address } : {};
  }

  #resolve(host: string | undefined): { route: TAppRoute; port: number | undefined } | undefined {
    if (!host) return undefined;
    const app = parseAppHost(host, this.#o.appsDomain);
    if (app) {
      const route = this.#o.routes.byKey(app.routeKey);
      return route ? { route, port: app.port ?? route.ports[0] } : undefined;
    }
    const domain = this.#o.domain(hostName(host));
    const route = domain ? this.#o.routes.byDeployment(domain.deploymentId) : undefined;
    return route && domain ? { route, port: domain.port ?? route.ports[0] } : undefined;
  }

  /** Round-robin over routable replicas serving `port`, the current build's first. */
  #pick(
    route: TAppRoute,
    port: number,
    tried: ReadonlySet<string>,
    advance = true,
  ): TReplicaTarget | undefined {
    const routable = route.replicas.filter(
      (r) => !tried.has(r.instanceId) && r.ports.includes(port) && this.#o.health.isRoutable(r.instanceId),
    );
    const unsuspected = routable.filter((r) => !this.#checking.has(r.instanceId));
    const usable = unsuspected.length > 0 ? unsuspected : routable;
    const current = usable.filter((r) => r.buildId === route.buildId);
    const pool = current.length > 0 ? current : usable;
    if (pool.length === 0) return undefined;
    const n = (this.#cursor.get(route.deploymentId) ?? 0) + 1;
    if (advance) this.#cursor.set(route.deploymentId, n);
    return pool[n % pool.length];
  }

  #attempt(ctx: TRequestContext): void {
    const replica = this.#pick(ctx.route, ctx.port, ctx.tried);
    if (!replica) {
      const waiting = ctx.route.replicas.length === 0;
      sendEdgePage(
        ctx.res,
        503,
        "No healthy replica",
        waiting
          ? `${ctx.route.name} has no running replica right now (wanted: ${ctx.route.replicasWanted}).`
          : `None of ${ctx.route.name}'s replicas passes its health check right now.`,
        { "retry-after": "1" },
      );
      return;
    }
    ctx.tried.add(replica.instanceId);
    // A short connect timeout only pays when another replica can take the request over; the last
    // one a request can go to gets time for SYN retransmits (a busy app's full accept queue drops
    // SYNs: waiting beats an error page).
    const failover =
      ctx.idempotent &&
      ctx.retries < this.#o.retries &&
      this.#pick(ctx.route, ctx.port, ctx.tried, false) !== undefined;
    const attempt: TAttempt = {
      ctx,
      replica,
      proxyReq: null,
      responded: false,
      settled: false,
      timers: [],
      connectMs: failover ? this.#o.connectTimeoutMs : this.#o.lastConnectTimeoutMs,
    };
    this.#attempts.set(ctx.req, attempt);
    let set = this.#inflight.get(replica.instanceId);
    if (!set) {
      set = new Set();
      this.#inflight.set(replica.instanceId, set);
    }
    set.add(attempt);
    // A request that waits long for its headers may be stuck on a host that died: probe it.
    const suspect = setTimeout(() => {
      if (!attempt.settled) this.#check(replica, ctx.port);
    }, this.#o.suspectMs);
    suspect.unref();
    attempt.timers.push(suspect);
    this.#agent.capture = (proxyReq) => {
      attempt.proxyReq = proxyReq;
      this.#connectDeadline(proxyReq, attempt.connectMs, attempt);
    };
    try {
      this.#proxy.web(
        ctx.req,
        ctx.res,
        {
          target: `http://${replica.ip}:${ctx.port}`,
          agent: this.#agent,
          ...this.#local(),
          // The request body was never read for bodyless requests: every attempt sends an empty one.
          ...(ctx.idempotent ? { buffer: Readable.from([]) } : {}),
        },
        (error) => this.#failed(attempt, error),
      );
    } finally {
      this.#agent.capture = null;
    }
  }

  /** Destroys the request when its TCP connection is not up within the connect timeout. */
  #connectDeadline(proxyReq: ClientRequest, ms: number, attempt?: TAttempt): void {
    const arm = (socket: Socket) => {
      if (!socket.connecting) return;
      const timer = setTimeout(
        () => proxyReq.destroy(edgeError("ECONNTIMEOUT", `no TCP connection within ${ms} ms`)),
        ms,
      );
      timer.unref();
      attempt?.timers.push(timer);
      socket.once("connect", () => clearTimeout(timer));
      socket.once("close", () => clearTimeout(timer));
    };
    if (proxyReq.socket) arm(proxyReq.socket);
    else proxyReq.once("socket", arm);
  }

  #settle(attempt: TAttempt): void {
    if (attempt.settled) return;
    attempt.settled = true;
    for (const t of attempt.timers) clearTimeout(t);
    this.#inflight.get(attempt.replica.instanceId)?.delete(attempt);
    if (this.#attempts.get(attempt.ctx.req) === attempt) this.#attempts.delete(attempt.ctx.req);
  }

  #failed(attempt: TAttempt, error: unknown): void {
    if (attempt.responded) {
      // The answer had started: nothing can be retried; end the client's response as broken.
      if (!attempt.ctx.res.writableFinished) attempt.ctx.res.destroy();
      return;
    }
    // Errors of the client's request reach every earlier attempt's handler too: handle each once.
    if (attempt.settled) return;
    this.#settle(attempt);
    const { ctx, replica } = attempt;
    if (ctx.clientGone || ctx.res.destroyed) return;
    const code = errorCode(error);
    const reason = error instanceof Error ? error.message : String(error);
    this.#judge(
      replica,
      ctx.port,
      code,
      `request to :${ctx.port} failed: ${code}${reason && reason !== code ? ` (${reason})` : ""}`,
    );
    if (
      !ctx.res.headersSent &&
      ctx.idempotent &&
      ctx.retries < this.#o.retries &&
      CONNECTION_ERRORS.has(code)
    ) {
      ctx.retries++;
      this.#o.log.debug(
        { instanceId: replica.instanceId, code, retries: ctx.retries },
        "retrying on another replica",
      );
      this.#attempt(ctx);
      return;
    }
    if (!ctx.res.headersSent) {
      sendEdgePage(
        ctx.res,
        502,
        "The app did not answer",
        `${ctx.route.name}'s replica could not be reached (${code}).`,
      );
    } else {
      ctx.res.destroy();
    }
  }

  /** What a failed request says of its replica: unreachable → down; doubtful → checked. */
  #judge(replica: TReplicaTarget, port: number, code: string, reason: string): void {
    if (UNREACHABLE.has(code)) this.#o.health.markDown(replica.instanceId, reason);
    else if (DOUBTFUL.has(code)) this.#check(replica, port);
  }

  /**
   * Checks that a replica is still there (one check at a time per replica) and keeps it out of the
   * round-robin meanwhile, unless it is the only one; a failed check marks it down (`#replicaDown`).
   */
  #check(replica: TReplicaTarget, port: number): void {
    if (this.#checking.has(replica.instanceId)) return;
    this.#checking.add(replica.instanceId);
    void this.#o.health
      .confirmAlive(replica.instanceId, port, this.#o.connectTimeoutMs)
      .finally(() => this.#checking.delete(replica.instanceId));
  }

  /** A replica went down: requests still waiting for its headers are cut (and retried if they can be). */
  #replicaDown(instanceId: string): void {
    for (const attempt of [...(this.#inflight.get(instanceId) ?? [])]) {
      if (attempt.responded) continue;
      attempt.proxyReq?.destroy(
        edgeError("EREPLICADOWN", "the replica was marked down while the request waited"),
      );
    }
    this.#inflight.delete(instanceId);
    // Pooled connections to it would hang the next requests if it comes back on a new host.
    const replica = this.#o.routes.replicas.find((r) => r.instanceId === instanceId);
    if (!replica) return;
    for (const sockets of Object.values(this.#agent.freeSockets)) {
      for (const s of sockets ?? []) if (s.remoteAddress === replica.ip) s.destroy();
    }
  }
}

function hostOf(req: IncomingMessage): string | undefined {
  const authority = req.headers[":authority"];
  return typeof authority === "string" ? authority : req.headers.host;
}

/** The host name of a Host header: lowercase, without port and trailing dot. */
export function hostName(host: string): string {
  const name = host.toLowerCase().replace(/:\d+$/, "");
  return name.endsWith(".") ? name.slice(0, -1) : name;
}
