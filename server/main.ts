/**
 * Console entry point (`tsx server/main.ts`): one port serving the Next.js UI, the tRPC API at
 * /api/trpc, /healthz and the WebSocket gateways. Everything lives in startConsole() so tests can
 * run the same server in-process.
 */
import { createLogger } from "@/core/log";
import { CONSOLE_UMASK } from "@/server/data-dir";
import { env } from "@/server/env";
import { startConsole } from "@/server/http/console-server";

const logger = createLogger("console");
// Everything the console writes (database, blobs, logs) is private to its user.
process.umask(CONSOLE_UMASK);

async function main(): Promise<void> {
  const running = await startConsole({
    logger,
    // FORMATION_CONSOLE_NO_UI=1 serves API + WebSockets only (headless installs, fast CI runs).
    withNext: env().withUi,
  });
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "shutting down");
    running.close().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  process.once("SIGINT", () => stop("SIGINT"));
  process.once("SIGTERM", () => stop("SIGTERM"));
}

main().catch((err: unknown) => {
  logger.fatal({ err }, "console failed to start");
  process.exit(1);
});
