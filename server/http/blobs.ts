import type { IncomingMessage, ServerResponse } from "node:http";
import { parseRange, ZDigest } from "@/lib/protocol";
import { AppError } from "@/server/errors";
import type { TServices } from "@/server/services/services";
import { clientIp, sessionCookie } from "./admission";
import type { TConsoleRuntime } from "./console-runtime";
import { rateLimitedError } from "./rate-limit";
import { sendJson } from "./send";

/**
 * Blob transfer endpoints.
 *   Agents (Bearer token from `welcome`; users never reach these):
 *     GET  /api/agent/contexts/<digest>   build context tarball
 *     GET  /api/agent/images/<digest>     disk image (agents verify the digest before boot)
 *     HEAD /api/agent/images/<digest>     200 when the console holds it (a base is sent once)
 *     PUT  /api/agent/images/<digest>     upload a built image; stored only if the digest matches
 *     GET  /api/agent/sources/<digest>    its size, pieces' SHA-256 and the nodes that hold it
 *                                         (lib/protocol/blobs.ts: nodes fetch from their peers)
 *   Users (session cookie or signed read token), for contexts too large for the tRPC input:
 *     PUT  /api/contexts/<digest>         upload a build context, then call builds.create
 */
function digestFrom(url: URL, prefix: string): string {
  const parsed = ZDigest.safeParse(decodeURIComponent(url.pathname.slice(prefix.length + 1)));
  if (!parsed.success) throw new AppError("BAD_REQUEST", "expected /<sha256:64 hex digest> in the path");
  return parsed.data;
}

async function agentNode(services: TServices, req: IncomingMessage): Promise<string> {
  const header = req.headers.authorization ?? "";
  const match = /^Bearer ([0-9a-f]{64})$/.exec(header);
  if (!match?.[1])
    throw new AppError("UNAUTHORIZED", "agent endpoints need `Authorization: Bearer <agentToken>`");
  const nodeId = await services.nodes.nodeIdForAgentToken(match[1]);
  if (!nodeId) throw new AppError("UNAUTHORIZED", "agent token unknown or its connection closed; reconnect");
  return nodeId;
}

/**
 * Streams a blob. A range (`bytes=a-b` for one piece a node fetches, `bytes=N-` for a cut-off
 * download resumed) gets that part as 206, or 416 when it is not inside the blob; other range
 * forms get the whole blob.
 */
async function sendBlob(
  runtime: TConsoleRuntime,
  req: IncomingMessage,
  res: ServerResponse,
  to: { digest: string; nodeId: string },
): Promise<void> {
  const { services } = runtime;
  const { digest } = to;
  const size = await services.blobs.size(digest);
  if (size === null) throw new AppError("NOT_FOUND", `no blob ${digest}`);
  const asked = /^bytes=\d+-\d*$/.test(req.headers.range ?? "");
  const part = asked ? parseRange(req.headers.range, size) : undefined;
  if (part === null) {
    res.writeHead(416, { "content-range": `bytes */${size}` });
    res.end();
    return;
  }
  const blob = await services.blobs.open(digest, part ?? { start: 0 });
  if (!blob) throw new AppError("NOT_FOUND", `no blob ${digest}`);
  res.writeHead(part ? 206 : 200, {
    "content-type": "application/octet-stream",
    "content-length": part ? part.end - part.start + 1 : blob.size,
    "x-content-digest": digest,
    "accept-ranges": "bytes",
    ...(part ? { "content-range": `bytes ${part.start}-${part.end}/${blob.size}` } : {}),
  });
  await new Promise<void>((resolve, reject) => {
    blob.stream.on("error", reject);
    res.on("close", resolve);
    blob.stream.pipe(res);
  });
  // The console's egress for blobs, per transfer (benchmarks and the multinode test add these up).
  runtime.logger.info(
    {
      component: "blobs",
      nodeId: to.nodeId,
      digest,
      from: part?.start ?? 0,
      bytes: blob.stream.bytesRead,
      complete: res.writableFinished,
    },
    "blob sent",
  );
}

/** Uploads are the expensive requests: each identity (address or agent node) gets its own allowance. */
async function limitUpload(runtime: TConsoleRuntime, identity: string): Promise<void> {
  const decision = await runtime.limits.consume("blobPutsPerIdentity", identity);
  if (!decision.allowed) throw rateLimitedError(decision);
}

/** Registers the blob routes of one console on its HTTP route registry. */
export function registerBlobRoutes(runtime: TConsoleRuntime): void {
  const { services } = runtime;
  runtime.http.register("/api/agent/contexts", async ({ req, res, url }) => {
    if (req.method !== "GET") throw new AppError("BAD_REQUEST", "use GET");
    const nodeId = await agentNode(services, req);
    await sendBlob(runtime, req, res, { digest: digestFrom(url, "/api/agent/contexts"), nodeId });
  });

  runtime.http.register("/api/agent/images", async ({ req, res, url }) => {
    const digest = digestFrom(url, "/api/agent/images");
    const nodeId = await agentNode(services, req);
    if (req.method === "GET") return sendBlob(runtime, req, res, { digest, nodeId });
    if (req.method === "HEAD") {
      // A builder asks before it sends a base every build shares.
      const size = await services.blobs.size(digest);
      res.writeHead(size === null ? 404 : 200, size === null ? {} : { "content-length": size });
      res.end();
      return;
    }
    if (req.method !== "PUT") throw new AppError("BAD_REQUEST", "use GET, HEAD or PUT");
    await limitUpload(runtime, `node:${nodeId}`);
    const stored = await services.blobs.putStream({
      stream: req,
      expectedDigest: digest,
      maxBytes: services.config.maxImageBytes,
    });
    runtime.logger.info({ component: "control-plane", nodeId, digest, size: stored.size }, "image uploaded");
    sendJson(res, 201, stored);
  });

  runtime.http.register("/api/agent/sources", async ({ req, res, url }) => {
    if (req.method !== "GET") throw new AppError("BAD_REQUEST", "use GET");
    const digest = digestFrom(url, "/api/agent/sources");
    const nodeId = await agentNode(services, req);
    const sources = await services.blobSources.sourcesFor({ digest, nodeId });
    if (!sources) throw new AppError("NOT_FOUND", `no blob ${digest}`);
    sendJson(res, 200, sources);
  });

  runtime.http.register("/api/contexts", async ({ req, res, url }) => {
    if (req.method !== "PUT") throw new AppError("BAD_REQUEST", "use PUT");
    const digest = digestFrom(url, "/api/contexts");
    const caller = await runtime.callers.resolve({
      cookie: sessionCookie(req),
      authorization: req.headers.authorization ?? null,
      ip: clientIp(req),
    });
    if (caller.limited) throw rateLimitedError(caller.limited);
    const session = caller.session;
    if (!session)
      throw (
        caller.authError ??
        new AppError("UNAUTHORIZED", "sign in (or send a signed read token) to upload a build context")
      );
    await limitUpload(runtime, session.address);
    // Recorded as this account's upload, within its quota: builds may only use their own (issue #23).
    const stored = await services.contexts.putStream({ owner: session.address, digest, stream: req });
    sendJson(res, 201, stored);
  });
}
