import { type ChildProcess, spawn } from "node:child_process";
import { createServer, type IncomingMessage, request, type Server } from "node:http";
import type { Socket } from "node:net";
import { createInterface } from "node:readline";
import { WebSocketServer } from "ws";
import { tcpProbe } from "./probes";

/**
 * A replica's app for ingress tests: an HTTP server on the replica's (loopback) formnet address
 * that names itself in every answer, a `/healthz` that can be made to fail, and a WebSocket echo.
 * `kill()` closes it the way a dead process does (connections reset, new ones refused).
 */
export type TReplicaApp = {
  instanceId: string;
  ip: string;
  port: number;
  /** Paths of the requests it served, health checks excluded. */
  requests: string[];
  healthChecks: number;
  setHealthy(healthy: boolean): void;
  kill(): Promise<void>;
};

export async function startReplicaApp(opts: {
  instanceId: string;
  ip: string;
  port: number;
  healthy?: boolean;
}): Promise<TReplicaApp> {
  let healthy = opts.healthy ?? true;
  const sockets = new Set<Socket>();
  const app: TReplicaApp = {
    instanceId: opts.instanceId,
    ip: opts.ip,
    port: opts.port,
    requests: [],
    healthChecks: 0,
    setHealthy: (h) => {
      healthy = h;
    },
    kill: async () => {
      for (const s of sockets) s.destroy();
      wss.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const server: Server = createServer((req, res) => {
    if (req.url === "/healthz") {
      app.healthChecks++;
      res.writeHead(healthy ? 200 : 500, { "content-type": "text/plain" });
      res.end(healthy ? "ok\n" : "sick\n");
      return;
    }
    app.requests.push(req.url ?? "/");
    const body = `hello from ${opts.instanceId} host=${req.headers.host ?? ""} xff=${req.headers["x-forwarded-for"] ?? ""}\n`;
    res.writeHead(200, { "content-type": "text/plain", "content-length": Buffer.byteLength(body) });
    res.end(body);
  });
  server.on("connection", (s) => {
    sockets.add(s);
    s.once("close", () => sockets.delete(s));
  });
  const wss = new WebSocketServer({ server });
  wss.on("connection", (ws) => ws.on("message", (data) => ws.send(`${opts.instanceId}: ${String(data)}`)));
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port, opts.ip, () => resolve());
  });
  return app;
}

export type TEdgeResponse = { status: number; body: string; instance: string | undefined; ms: number };

/**
 * GET `url` (an app URL such as `http://web-0a1b2c3d.localhost:3000/`) against `via` (host:port
 * of the edge), sending the URL's host as Host: what a browser resolving `*.localhost` does.
 */
export function edgeGet(
  url: string,
  opts: { via?: string; timeoutMs?: number; method?: string } = {},
): Promise<TEdgeResponse> {
  const u = new URL(url);
  const [host, port] = (opts.via ?? `127.0.0.1:${u.port || 80}`).split(":");
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host,
        port: Number(port),
        path: `${u.pathname}${u.search}`,
        method: opts.method ?? "GET",
        headers: { host: u.host },
        agent: false,
        timeout: opts.timeoutMs ?? 10_000,
      },
      (res) =>
        readText(res).then(
          (body) =>
            resolve({
              status: res.statusCode ?? 0,
              body,
              instance: res.headers["x-formation-instance"] as string | undefined,
              ms: performance.now() - started,
            }),
          reject,
        ),
    );
    req.on("timeout", () => req.destroy(new Error(`GET ${url} timed out`)));
    req.on("error", reject);
    req.end();
  });
}

export type TStreamResult = {
  startedAt: number;
  status: number;
  instance: string | undefined;
  ms: number;
  error?: string;
};

/**
 * GETs `url` at a steady `perSecond` for `ms` (each request on its own connection, as separate
 * visitors would), resolving with every answer or error in the order they were sent.
 */
export async function steadyGets(
  url: string,
  opts: { perSecond: number; ms: number; via?: string; timeoutMs?: number },
): Promise<TStreamResult[]> {
  const results: TStreamResult[] = [];
  const pending: Promise<void>[] = [];
  const started = Date.now();
  for (let i = 0; Date.now() - started < opts.ms; i++) {
    const startedAt = Date.now();
    const slot: TStreamResult = { startedAt, status: 0, instance: undefined, ms: 0 };
    results.push(slot);
    pending.push(
      edgeGet(url, { timeoutMs: opts.timeoutMs ?? 15_000, ...(opts.via ? { via: opts.via } : {}) }).then(
        (r) => {
          slot.status = r.status;
          slot.instance = r.instance;
          slot.ms = r.ms;
        },
        (error: unknown) => {
          slot.error = String(error);
          slot.ms = Date.now() - startedAt;
        },
      ),
    );
    const next = started + ((i + 1) * 1000) / opts.perSecond;
    await new Promise((r) => setTimeout(r, Math.max(0, next - Date.now())));
  }
  await Promise.all(pending);
  return results;
}

/** A response's whole body as text. */
export function readText(res: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let body = "";
    res.setEncoding("utf8");
    res.on("data", (c: string) => {
      body += c;
    });
    res.on("end", () => resolve(body));
    res.on("error", reject);
  });
}

/**
 * A swamped app: an HTTP server in a child process that listens on ip:port (0: any) with a backlog
 * of 1 and accepts nothing for `blockMs` (for ever without it) because its event loop is blocked;
 * its accept queue is filled before this resolves, so the kernel drops further SYNs meanwhile.
 */
export async function startSwampedApp(opts: {
  ip: string;
  port?: number;
  blockMs?: number;
}): Promise<{ port: number; child: ChildProcess }> {
  // The port is written synchronously, then the event loop blocks: nothing is accepted meanwhile.
  const script = `
    const server = require("node:http").createServer((req, res) => res.end("slow but here\\n"));
    server.listen({ host: ${JSON.stringify(opts.ip)}, port: ${opts.port ?? 0}, backlog: 1 }, () => {
      require("node:fs").writeSync(1, server.address().port + "\\n");
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0${opts.blockMs === undefined ? "" : `, ${opts.blockMs}`});
    });`;
  const child = spawn(process.execPath, ["-e", script], { stdio: ["ignore", "pipe", "inherit"] });
  const stdout = child.stdout;
  if (!stdout) throw new Error("no stdout");
  const port = Number(
    await new Promise<string>((resolve) => createInterface({ input: stdout }).once("line", resolve)),
  );
  // Fill the accept queue (connections stay queued after the client closes): later SYNs are dropped.
  for (let i = 0; i < 16; i++) {
    if (!(await tcpProbe({ ip: opts.ip, port, timeoutMs: 200 })).ok) return { port, child };
  }
  child.kill("SIGKILL");
  throw new Error(`the accept queue of ${opts.ip}:${port} never filled`);
}
