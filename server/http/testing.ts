import type { AnyRouter } from "@trpc/server";
import superjson from "superjson";
import type { LocalAccount } from "viem";
import { type CreateSiweMessageParameters, createSiweMessage } from "viem/siwe";
import { createLogger } from "@/core/log";
import { createTestDatabase } from "@/server/db/testing";
import { loadEnv, type TEnv } from "@/server/env";
import type { TConsoleModule } from "./console-runtime";
import { startConsole, type TRunningConsole } from "./console-server";

export const TEST_CONSOLE_ORIGIN = "http://console.test";

export type TTestConsole = TRunningConsole & { env: TEnv; databaseUrl: string };

/**
 * An in-process console for integration tests: fresh SQLite database (current schema), API and
 * WebSockets only (no Next), a free loopback port. Origin is fixed (TEST_CONSOLE_ORIGIN) so signed
 * requests can be built before the port is known. `close()` also deletes the database.
 */
export async function startTestConsole(
  opts: {
    env?: Record<string, string>;
    modules?: TConsoleModule[];
    withNext?: boolean;
    router?: AnyRouter;
  } = {},
): Promise<TTestConsole> {
  const database = await createTestDatabase();
  // The console opens its own client; this one only created the schema.
  await database.prisma.$disconnect();
  const env = loadEnv({
    NODE_ENV: "test",
    HOST: "127.0.0.1",
    PORT: "0",
    CONSOLE_ORIGIN: TEST_CONSOLE_ORIGIN,
    DATABASE_URL: database.url,
    // Every test client is 127.0.0.1: suites that sign in or probe bad tokens often must not
    // throttle each other. The limits' own test sets these (server/http/limits.integration.test.ts).
    FORMATION_LIMIT_AUTH_PER_IP: "10000",
    FORMATION_LIMIT_AUTH_FAILURES_PER_IP: "10000",
    ...opts.env,
  });
  try {
    const running = await startConsole({
      env,
      port: 0,
      migrate: false,
      withNext: opts.withNext ?? false,
      logger: createLogger("test-console"),
      ...(opts.modules ? { modules: opts.modules } : {}),
      ...(opts.router ? { router: opts.router } : {}),
    });
    return {
      ...running,
      env,
      databaseUrl: database.url,
      async close() {
        await running.close();
        await database.cleanup();
      },
    };
  } catch (error) {
    await database.cleanup();
    throw error;
  }
}

export type TTrpcResult = {
  status: number;
  ok: boolean;
  /** Deserialized `result.data` when ok. */
  data: unknown;
  /** `error.data.appCode` when not ok. */
  appCode: string | null;
  message: string | null;
  setCookies: string[];
};

/**
 * Calls one tRPC procedure over real HTTP the way @trpc/client's httpLink does (superjson, GET for
 * queries, POST for mutations), without needing the router's type: tests address procedures by path.
 */
export async function callTrpc(opts: {
  url: string;
  path: string;
  type: "query" | "mutation";
  input?: unknown;
  headers?: Record<string, string>;
}): Promise<TTrpcResult> {
  const encoded = JSON.stringify(superjson.serialize(opts.input));
  const endpoint = `${opts.url}/api/trpc/${opts.path}`;
  const res =
    opts.type === "query"
      ? await fetch(
          opts.input === undefined ? endpoint : `${endpoint}?input=${encodeURIComponent(encoded)}`,
          {
            headers: opts.headers ?? {},
          },
        )
      : await fetch(endpoint, {
          method: "POST",
          headers: { "content-type": "application/json", ...opts.headers },
          body: encoded,
        });
  const body = (await res.json()) as {
    result?: { data: Parameters<typeof superjson.deserialize>[0] };
    error?: { json: { message: string; data?: { appCode?: string } } };
  };
  return {
    status: res.status,
    ok: res.ok && body.result !== undefined,
    data: body.result ? superjson.deserialize(body.result.data) : undefined,
    appCode: body.error?.json.data?.appCode ?? null,
    message: body.error?.json.message ?? null,
    setCookies: res.headers.getSetCookie(),
  };
}

/** `name=value` pairs of Set-Cookie headers, ready for a `cookie` request header. */
export function cookieHeader(setCookies: string[]): string {
  return setCookies.map((c) => c.split(";")[0] ?? "").join("; ");
}

/** Signs in over HTTP like the browser does (nonce → SIWE message → signIn); returns the cookie. */
export async function siweSignIn(opts: {
  url: string;
  account: Pick<LocalAccount, "address" | "signMessage">;
  /** Change fields of the message before signing (to test rejections). */
  tamper?: (fields: CreateSiweMessageParameters) => CreateSiweMessageParameters;
}): Promise<{ cookie: string; result: TTrpcResult; message: string }> {
  const nonce = await callTrpc({ url: opts.url, path: "auth.nonce", type: "mutation" });
  if (!nonce.ok) throw new Error(`auth.nonce failed: ${nonce.status} ${nonce.message}`);
  const n = nonce.data as { nonce: string; domain: string; uri: string; chainId: number };
  const fields: CreateSiweMessageParameters = {
    address: opts.account.address,
    domain: n.domain,
    uri: n.uri,
    chainId: n.chainId,
    nonce: n.nonce,
    version: "1",
    statement: "Sign in to Formation",
    issuedAt: new Date(),
  };
  const message = createSiweMessage(opts.tamper ? opts.tamper(fields) : fields);
  const signature = await opts.account.signMessage({ message });
  const result = await callTrpc({
    url: opts.url,
    path: "auth.signIn",
    type: "mutation",
    input: { message, signature },
  });
  return { cookie: cookieHeader(result.setCookies), result, message };
}
