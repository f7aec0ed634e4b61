/**
 * Background entry of a laptop's formnet tunnel:
 *   node core/formnet/user-tunnel-daemon.mjs --state-dir DIR [--netns NS] [--interval-ms N]
 * Started by `spawnUserTunnelDaemon`; logs JSON lines to stdout (redirected to DIR/formnet.log).
 */
import { parseArgs } from "node:util";
import { createLogger } from "../log";
import { runUserTunnel } from "./user-tunnel";

const { values } = parseArgs({
  options: {
    "state-dir": { type: "string" },
    netns: { type: "string" },
    "interval-ms": { type: "string" },
  },
});
const stateDir = values["state-dir"];
const logger = createLogger("formnet-user", { stateDir });
if (stateDir === undefined) {
  logger.error("--state-dir is required");
  process.exit(2);
}
try {
  const tunnel = await runUserTunnel({
    stateDir,
    netns: values.netns,
    intervalMs: values["interval-ms"] === undefined ? undefined : Number(values["interval-ms"]),
    logger,
  });
  logger.info({ iface: tunnel.iface.name, publicKey: tunnel.iface.publicKey }, "formnet tunnel running");
  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "stopping formnet tunnel");
    tunnel.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, "formnet tunnel did not stop cleanly");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => shutdown("SIGTERM"));
  process.on("SIGINT", () => shutdown("SIGINT"));
  process.on("SIGHUP", () => {
    tunnel.sync.refreshNow().catch(() => {
      // Logged by PeerSync; the periodic refresh retries.
    });
  });
} catch (error) {
  logger.error({ err: error }, "formnet tunnel failed to start");
  process.exit(1);
}
