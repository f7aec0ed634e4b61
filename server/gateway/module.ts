import { WebSocketServer } from "ws";
import { AGENT_WS_PATH, MAX_FRAME_BYTES } from "@/lib/protocol";
import { registerBlobRoutes } from "@/server/http/blobs";
import type { TConsoleModule } from "@/server/http/console-runtime";
import { AgentGateway } from "./agent-gateway";

/**
 * Console module of the control plane's long-lived parts: the agent gateway at /ws/agent (with its
 * formnet peer pusher), the blob routes, the sweeper's timer and the blob GC. The services they
 * drive are the console's (`runtime.services`), built before any module starts.
 */
export function controlPlaneModule(): TConsoleModule {
  return {
    name: "control-plane",
    async start(runtime) {
      const { services } = runtime;
      if (runtime.env.databaseProvider === "sqlite") {
        // Heartbeats, leases and logs make the control plane write-heavy: WAL with synchronous=NORMAL
        // keeps each commit from waiting for an fsync (durable at checkpoints; safe against crashes
        // of the process, may lose the last commits on power loss).
        await runtime.db.$queryRawUnsafe("PRAGMA journal_mode = WAL");
        await runtime.db.$queryRawUnsafe("PRAGMA synchronous = NORMAL");
      }
      const gateway = new AgentGateway({
        services,
        origin: runtime.env.consoleOrigin,
        log: runtime.logger.child({ component: "control-plane" }),
      });
      const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME_BYTES });
      runtime.upgrades.register(AGENT_WS_PATH, ({ req, socket, head }) => {
        wss.handleUpgrade(req, socket, head, (ws) => {
          gateway.accept(ws, { remoteAddress: req.socket.remoteAddress });
        });
      });
      registerBlobRoutes(runtime);
      gateway.start();
      services.sweeper.start();
      services.blobGc.start();
      return async () => {
        await services.sweeper.stop();
        await services.blobGc.stop();
        await gateway.stop();
        await services.sweeper.release();
        await new Promise<void>((resolve) => wss.close(() => resolve()));
      };
    },
  };
}
