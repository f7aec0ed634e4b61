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
  opts: { env?: Record<string, string>; modules?: TConsoleModule[]; withNext?: boolean } = {},
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
