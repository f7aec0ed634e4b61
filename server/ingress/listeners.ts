import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createSecureServer, type Http2SecureServer } from "node:http2";
import type { AddressInfo, Socket } from "node:net";
import type { Logger } from "@/core/log";
import type { TDomainsRepository } from "@/server/db/repositories/domains-repository";
import type { CertificateService } from "./certificates";
import type { Edge } from "./edge";
import { httpsRedirect } from "./https-redirect";
import { sendEdgePage } from "./pages";

const ACME_CHALLENGE = "/.well-known/acme-challenge/";

/**
 * Answers ACME HTTP-01 challenges from the database (any edge may be the one the ACME server
 * reaches); true when the request was one.
 */
export async function answerAcmeChallenge(
  repo: TDomainsRepository,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<boolean> {
  const path = req.url ?? "";
  if (!path.startsWith(ACME_CHALLENGE)) return false;
  const token = path.slice(ACME_CHALLENGE.length).split("?")[0] ?? "";
  const challenge = /^[A-Za-z0-9_-]{1,256}$/.test(token) ? await repo.challenge(token) : null;
  if (!challenge || challenge.expiresAt.getTime() < Date.now()) {
    sendEdgePage(res, 404, "No such challenge", "This ACME challenge is unknown or expired.");
    return true;
  }
  res.writeHead(200, { "content-type": "text/plain", "cache-control": "no-store" });
  res.end(challenge.keyAuthorization);
  return true;
}

/**
 * Answers a plain-HTTP app request with a 308 to its https URL when the edge serves that host over
 * TLS (a listener and a certificate; see httpsRedirect); true when it did.
 */
export function redirectToHttps(
  req: IncomingMessage,
  res: ServerResponse,
  opts: { httpsPort: number | undefined; certificates: Pick<CertificateService, "secureContext"> },
): boolean {
  const location = httpsRedirect({
    host: req.headers.host,
    url: req.url,
    httpsPort: opts.httpsPort,
    hasCertificate: (name) => opts.certificates.secureContext(name) !== undefined,
    forwardedProto: req.headers["x-forwarded-proto"],
  });
  if (location === null) return false;
  res.writeHead(308, { location, "content-type": "text/plain", "cache-control": "no-store" });
  res.end(`Moved to ${location}\n`);
  return true;
}

export type TEdgeListeners = {
  httpPort: number | undefined;
  httpsPort: number | undefined;
  close(): Promise<void>;
};

/**
 * The edge's own listeners, for apps only (the console is not served there): plain HTTP (ACME
 * HTTP-01 answers and apps) and TLS with certificates chosen by SNI, speaking HTTP/2 to clients
 * that offer it and HTTP/1.1 (WebSocket upgrades included) to the others.
 */
export async function startEdgeListeners(opts: {
  edge: Pick<Edge, "claims" | "handle" | "upgrade">;
  repo: TDomainsRepository;
  certificates: CertificateService;
  host: string;
  httpPort: number | undefined;
  httpsPort: number | undefined;
  /** Port of https URLs when visitors reach the TLS listener on another (FORMATION_APPS_PUBLIC_HTTPS_PORT). */
  publicHttpsPort?: number | undefined;
  log: Logger;
}): Promise<TEdgeListeners> {
  const servers: Array<Server | Http2SecureServer> = [];
  const notAnApp = (req: IncomingMessage, res: ServerResponse) =>
    sendEdgePage(res, 404, "No app here", `Nothing is deployed at ${req.headers.host ?? "this address"}.`);
  const listen = (server: Server | Http2SecureServer, port: number) =>
    new Promise<number>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, opts.host, () => {
        server.off("error", reject);
        resolve((server.address() as AddressInfo).port);
      });
    });
  const fail = (what: string) => (error: unknown) => opts.log.warn({ err: error }, `${what} failed`);

  let httpPort: number | undefined;
  let httpsPort: number | undefined;
  if (opts.httpPort !== undefined) {
    const server = createServer((req, res) => {
      void (async () => {
        if (await answerAcmeChallenge(opts.repo, req, res)) return;
        if (!opts.edge.claims(req.headers.host)) notAnApp(req, res);
        else if (
          !redirectToHttps(req, res, {
            httpsPort: httpsPort === undefined ? undefined : (opts.publicHttpsPort ?? httpsPort),
            certificates: opts.certificates,
          })
        )
          opts.edge.handle(req, res, "http");
      })().catch(fail("edge HTTP request"));
    });
    server.on("upgrade", (req: IncomingMessage, socket: Socket, head: Buffer) => {
      if (opts.edge.claims(req.headers.host)) opts.edge.upgrade(req, socket, head);
      else socket.destroy();
    });
    servers.push(server);
    httpPort = await listen(server, opts.httpPort);
  }

  if (opts.httpsPort !== undefined) {
    const server = createSecureServer(
      {
        allowHTTP1: true,
        SNICallback: (servername, callback) => {
          const context = opts.certificates.secureContext(servername);
          if (context) callback(null, context);
          else callback(new Error(`no certificate for ${servername}`));
        },
      },
      (req, res) => {
        // The HTTP/2 compatibility request/response mimic node:http's; http-proxy-3 handles both.
        const request = req as unknown as IncomingMessage;
        const response = res as unknown as ServerResponse;
        const host = (req.headers[":authority"] as string | undefined) ?? req.headers.host;
        if (opts.edge.claims(host))
          opts.edge.handle(request, response, req.httpVersionMajor >= 2 ? "h2" : "https");
        else notAnApp(request, response);
      },
    );
    // HTTP/1.1 clients on the TLS listener may upgrade to WebSocket.
    server.on("upgrade", (req: IncomingMessage, socket: Socket, head: Buffer) => {
      if (opts.edge.claims(req.headers.host)) opts.edge.upgrade(req, socket, head);
      else socket.destroy();
    });
    server.on("sessionError", fail("edge TLS session"));
    servers.push(server);
    httpsPort = await listen(server, opts.httpsPort);
  }

  return {
    httpPort,
    httpsPort,
    close: async () => {
      await Promise.all(
        servers.map(
          (s) =>
            new Promise<void>((resolve) => {
              s.close(() => resolve());
              if ("closeAllConnections" in s) s.closeAllConnections();
            }),
        ),
      );
    },
  };
}
