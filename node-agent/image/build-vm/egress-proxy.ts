import { createHash, randomBytes } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { chmod, mkdir, rename, rm, stat } from "node:fs/promises";
import { createServer, type IncomingMessage, request, type Server, type ServerResponse } from "node:http";
import { connect, type Socket } from "node:net";
import { join } from "node:path";

/** One host:port a build may reach, e.g. `deb.debian.org:80`. */
export type TEgressRule = { host: string; port: number };

export type TEgressProxyOptions = {
  /** Unix socket the proxy listens on (the build VM reaches it through QEMU's guestfwd). */
  socketPath: string;
  allow: readonly TEgressRule[];
  /** Directory for cached `.deb` downloads (immutable by name and version), shared by builds. */
  debCacheDir: string;
  /** Called once per refused destination (said in the build log). */
  onRefused?: (what: string) => void;
};

/**
 * The only way out of a build VM: an HTTP forward proxy on a unix socket that forwards plain GET and
 * HEAD requests and CONNECT tunnels to the allowed mirrors and nothing else — not the host's
 * loopback, not the operator's LAN, not formnet, the console or the chain. Package downloads are
 * cached on the host, so rebuilding the same packages costs no mirror traffic.
 */
export class EgressProxy {
  readonly #opts: TEgressProxyOptions;
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  readonly #refused = new Set<string>();

  constructor(opts: TEgressProxyOptions) {
    this.#opts = opts;
    this.#server = createServer((req, res) => void this.#onRequest(req, res));
    this.#server.on("connect", (req: IncomingMessage, socket: Socket, head: Buffer) =>
      this.#onConnect(req, socket, head),
    );
    this.#server.on("connection", (s: Socket) => {
      this.#sockets.add(s);
      s.on("close", () => this.#sockets.delete(s));
    });
    // Bounded request heads; slow clients cannot hold a socket forever.
    this.#server.headersTimeout = 30_000;
    this.#server.requestTimeout = 0;
    this.#server.maxHeadersCount = 100;
  }

  async listen(): Promise<void> {
    await rm(this.#opts.socketPath, { force: true });
    await new Promise<void>((resolve, reject) => {
      this.#server.once("error", reject);
      this.#server.listen(this.#opts.socketPath, () => resolve());
    });
    // The build VM's QEMU runs as an unprivileged user: it must be able to connect.
    await chmod(this.#opts.socketPath, 0o666);
  }

  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
    await rm(this.#opts.socketPath, { force: true });
  }

  allowed(host: string, port: number): boolean {
    const h = host.toLowerCase().replace(/\.$/, "");
    return this.#opts.allow.some((r) => r.host.toLowerCase() === h && r.port === port);
  }

  #refuse(what: string): void {
    if (this.#refused.has(what)) return;
    this.#refused.add(what);
    this.#opts.onRefused?.(what);
  }

  async #onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let url: URL;
    try {
      url = new URL(req.url ?? "");
    } catch {
      res
        .writeHead(400, { "content-type": "text/plain" })
        .end("formation build proxy: absolute URL required\n");
      return;
    }
    const port = url.port === "" ? 80 : Number(url.port);
    if (url.protocol !== "http:" || (req.method !== "GET" && req.method !== "HEAD")) {
      res
        .writeHead(405, { "content-type": "text/plain" })
        .end("formation build proxy: only GET/HEAD over http\n");
      return;
    }
    if (!this.allowed(url.hostname, port)) {
      this.#refuse(`${url.hostname}:${port}`);
      res
        .writeHead(403, { "content-type": "text/plain" })
        .end(`formation build proxy: ${url.hostname}:${port} is not an allowed mirror\n`);
      return;
    }
    const cacheable = req.method === "GET" && /\.deb$/.test(url.pathname);
    const cachePath = cacheable
      ? join(
          this.#opts.debCacheDir,
          `${createHash("sha256").update(url.href).digest("hex").slice(0, 40)}.deb`,
        )
      : null;
    if (cachePath !== null) {
      const info = await stat(cachePath).catch(() => null);
      if (info?.isFile()) {
        res.writeHead(200, {
          "content-type": "application/vnd.debian.binary-package",
          "content-length": info.size,
        });
        createReadStream(cachePath).pipe(res);
        return;
      }
    }
    const headers: Record<string, string> = {};
    for (const name of [
      "accept",
      "range",
      "if-modified-since",
      "if-none-match",
      "user-agent",
      "cache-control",
    ]) {
      const v = req.headers[name];
      if (typeof v === "string") headers[name] = v;
    }
    headers.host = url.host;
    const upstream = request(
      {
        host: url.hostname,
        port,
        method: req.method,
        path: `${url.pathname}${url.search}`,
        headers,
        timeout: 60_000,
      },
      (up) => {
        const outHeaders: Record<string, string | string[]> = {};
        for (const [k, v] of Object.entries(up.headers)) {
          if (v !== undefined && k !== "connection" && k !== "keep-alive" && k !== "transfer-encoding")
            outHeaders[k] = v;
        }
        res.writeHead(up.statusCode ?? 502, outHeaders);
        if (cachePath !== null && up.statusCode === 200 && headers.range === undefined) {
          void this.#tee(up, res, cachePath);
        } else {
          up.pipe(res);
        }
      },
    );
    upstream.on("timeout", () => upstream.destroy(new Error("upstream timeout")));
    upstream.on("error", (err) => {
      if (!res.headersSent) res.writeHead(502, { "content-type": "text/plain" });
      res.end(`formation build proxy: ${url.host}: ${err.message}\n`);
    });
    upstream.end();
  }

  /** Streams the response to the VM and into the cache; only a complete download is kept. */
  async #tee(up: IncomingMessage, res: ServerResponse, cachePath: string): Promise<void> {
    await mkdir(this.#opts.debCacheDir, { recursive: true });
    const tmp = `${cachePath}.${randomBytes(4).toString("hex")}.part`;
    const file = createWriteStream(tmp);
    const expected = Number(up.headers["content-length"] ?? Number.NaN);
    let bytes = 0;
    up.on("data", (c: Buffer) => {
      bytes += c.length;
      file.write(c);
    });
    up.pipe(res);
    up.on("end", () => {
      file.end(() => {
        const complete = Number.isNaN(expected) || bytes === expected;
        void (complete ? rename(tmp, cachePath) : rm(tmp, { force: true })).catch(() => undefined);
      });
    });
    up.on("error", () => {
      file.destroy();
      void rm(tmp, { force: true });
    });
  }

  #onConnect(req: IncomingMessage, client: Socket, head: Buffer): void {
    const m = /^([A-Za-z0-9.-]+):(\d{1,5})$/.exec(req.url ?? "");
    const host = m?.[1];
    const port = Number(m?.[2]);
    if (host === undefined || !this.allowed(host, port)) {
      this.#refuse(req.url ?? "?");
      client.end("HTTP/1.1 403 Forbidden\r\ncontent-type: text/plain\r\n\r\nnot an allowed mirror\n");
      return;
    }
    const up = connect({ host, port }, () => {
      client.write("HTTP/1.1 200 Connection Established\r\n\r\n");
      if (head.length > 0) up.write(head);
      up.pipe(client);
      client.pipe(up);
    });
    up.setTimeout(120_000, () => up.destroy());
    // Either side going away ends the tunnel.
    up.on("error", () => client.destroy());
    up.on("close", () => client.destroy());
    client.on("error", () => up.destroy());
    client.on("close", () => up.destroy());
  }
}

/** Parses `host:port,host:port` (port defaults to 80), as FORMATION_BUILD_EGRESS takes it. */
export function parseEgressRules(text: string): TEgressRule[] {
  return text
    .split(/[\s,]+/)
    .filter(Boolean)
    .map((entry) => {
      const m = /^([A-Za-z0-9.-]+)(?::(\d{1,5}))?$/.exec(entry);
      if (!m?.[1]) throw new Error(`FORMATION_BUILD_EGRESS: not host[:port]: ${entry}`);
      return { host: m[1], port: m[2] === undefined ? 80 : Number(m[2]) };
    });
}

/** Mirror hosts named in apt sources text (`URIs:` fields and one-line `deb` entries). */
export function mirrorRules(sourcesText: string): TEgressRule[] {
  const rules: TEgressRule[] = [];
  const text = sourcesText
    .split("\n")
    .filter((l) => !l.trimStart().startsWith("#"))
    .join("\n");
  for (const m of text.matchAll(/\b(https?):\/\/([A-Za-z0-9.-]+)(?::(\d{1,5}))?/g)) {
    const scheme = m[1];
    const host = m[2];
    if (host === undefined) continue;
    const port = m[3] === undefined ? (scheme === "https" ? 443 : 80) : Number(m[3]);
    if (!rules.some((r) => r.host === host && r.port === port)) rules.push({ host, port });
  }
  return rules;
}
