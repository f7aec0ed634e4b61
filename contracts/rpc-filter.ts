import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "../core/log";

/**
 * The devnet's public JSON-RPC endpoint. Hardhat's node holds its funded test accounts unlocked:
 * anything that reaches its port could `eth_sendTransaction` from them, or rewrite state with
 * `hardhat_*`/`evm_*`. This filter forwards every read and `eth_sendRawTransaction` (transactions
 * signed by their sender's own key, as the console, agents, CLI and wallets all send them) and
 * refuses the methods that use the node's keys or its test controls. The unfiltered node listens
 * on a random loopback port known only to the devnet process and to tests that need test controls.
 */

/** Methods that sign with the node's unlocked accounts or control the node: never forwarded. */
const REFUSED_PREFIXES = ["personal_", "hardhat_", "evm_", "debug_", "anvil_", "admin_", "miner_"];
const REFUSED_METHODS = new Set([
  "eth_sendTransaction",
  "eth_sign",
  "eth_signTransaction",
  "eth_signTypedData",
  "eth_signTypedData_v3",
  "eth_signTypedData_v4",
]);
/** Largest request body forwarded (a contract deployment is well below). */
const MAX_BODY_BYTES = 1024 * 1024;

export function isRefusedRpcMethod(method: string): boolean {
  return REFUSED_METHODS.has(method) || REFUSED_PREFIXES.some((prefix) => method.startsWith(prefix));
}

type TRpcCall = { jsonrpc?: unknown; id?: unknown; method?: unknown };

function rpcError(id: unknown, code: number, message: string) {
  return { jsonrpc: "2.0", id: id ?? null, error: { code, message } };
}

/** The answer for one call the filter handles itself, or null to forward it. */
function localAnswer(call: TRpcCall): object | null {
  if (typeof call !== "object" || call === null || typeof call.method !== "string") {
    return rpcError(call?.id, -32600, "invalid JSON-RPC request");
  }
  // The node's accounts are not the caller's: a wallet asking for accounts gets none.
  if (call.method === "eth_accounts") return { jsonrpc: "2.0", id: call.id ?? null, result: [] };
  if (isRefusedRpcMethod(call.method)) {
    return rpcError(
      call.id,
      -32601,
      `${call.method} is not available on this chain's public RPC: sign transactions with your own key and send them with eth_sendRawTransaction`,
    );
  }
  return null;
}

async function readBody(req: IncomingMessage): Promise<string | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
    size += buffer.length;
    if (size > MAX_BODY_BYTES) return null;
    chunks.push(buffer);
  }
  return Buffer.concat(chunks).toString("utf8");
}

async function forward(upstream: string, calls: TRpcCall[]): Promise<unknown[]> {
  if (calls.length === 0) return [];
  const res = await fetch(upstream, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(calls),
  });
  const answers: unknown = await res.json();
  return Array.isArray(answers) ? answers : [answers];
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, {
    "content-type": "application/json",
    // Browsers (the console's wallet connector) call the chain cross-origin.
    "access-control-allow-origin": "*",
  });
  res.end(JSON.stringify(body));
}

async function handle(upstream: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (req.method === "OPTIONS") {
    res.writeHead(204, {
      "access-control-allow-origin": "*",
      "access-control-allow-methods": "POST, OPTIONS",
      "access-control-allow-headers": "content-type",
      "access-control-max-age": "600",
    });
    res.end();
    return;
  }
  if (req.method !== "POST") {
    send(res, 405, rpcError(null, -32600, "POST JSON-RPC requests to this endpoint"));
    return;
  }
  const text = await readBody(req);
  if (text === null) {
    send(res, 413, rpcError(null, -32600, `request body over ${MAX_BODY_BYTES} bytes`));
    return;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    send(res, 400, rpcError(null, -32700, "parse error: the body is not JSON"));
    return;
  }
  const batch = Array.isArray(parsed);
  const calls: TRpcCall[] = (batch ? parsed : [parsed]) as TRpcCall[];
  const answers: (object | null)[] = calls.map(localAnswer);
  const forwarded = await forward(
    upstream,
    calls.filter((_call, i) => answers[i] === null),
  );
  let next = 0;
  const merged = answers.map((answer) => answer ?? forwarded[next++] ?? rpcError(null, -32603, "no answer"));
  send(res, 200, batch ? merged : merged[0]);
}

export type TRpcFilter = { url: string; close(): Promise<void> };

/**
 * Listens on `hostname:port` (0: a free port) and forwards allowed calls to `upstream`. `alsoListen`
 * adds addresses served on the same port (the multinode network's underlay address, so that node
 * hosts reach the chain the way operators reach a public RPC).
 */
export async function startRpcFilter(opts: {
  upstream: string;
  hostname: string;
  alsoListen?: readonly string[];
  port: number;
  logger: Logger;
}): Promise<TRpcFilter> {
  const serve = async (hostname: string, port: number): Promise<Server> => {
    const server: Server = createServer((req, res) => {
      handle(opts.upstream, req, res).catch((err: unknown) => {
        opts.logger.warn({ err }, "chain RPC filter: request failed");
        if (!res.headersSent) send(res, 502, rpcError(null, -32603, "the chain node did not answer"));
        else res.destroy();
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, hostname, () => resolve());
    });
    return server;
  };
  const primary = await serve(opts.hostname, opts.port);
  const servers = [primary];
  const { port } = primary.address() as AddressInfo;
  const close = () =>
    Promise.all(
      servers.map(
        (server) =>
          new Promise<void>((resolve) => {
            server.closeAllConnections();
            server.close(() => resolve());
          }),
      ),
    ).then(() => undefined);
  try {
    for (const hostname of opts.alsoListen ?? []) servers.push(await serve(hostname, port));
  } catch (error) {
    await close();
    throw error;
  }
  return { url: `http://${opts.hostname}:${port}`, close };
}
