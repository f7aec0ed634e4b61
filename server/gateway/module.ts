import { WebSocketServer } from "ws";
import { AGENT_WS_PATH, MAX_FRAME_BYTES } from "@/lib/protocol";
import { createAdmission } from "@/server/chain/admission";
import { registerBlobRoutes } from "@/server/http/blobs";
import type { TConsoleModule, TConsoleRuntime } from "@/server/http/console-runtime";
import { loadControlPlaneConfig, type TControlPlaneConfig } from "./config";
import { ControlPlane, type TAdmissionCheck } from "./control-plane";
import { InProcessNotifier, type Notifier, PgNotifier } from "./notifier";

declare module "@/server/http/console-runtime" {
  interface ConsoleServices {
    controlPlane: ControlPlane;
  }
}

export type TControlPlaneModuleOptions = {
  /** Overrides of the environment-derived settings (tests use short timings). */
  config?: Partial<TControlPlaneConfig>;
  /** Replaces the contract/allow-list admission (tests). */
  admission?: TAdmissionCheck;
};

function defaultAdmission(runtime: TConsoleRuntime): { check: TAdmissionCheck; close: () => void } {
  const env = runtime.env;
  if (env.orchestratorAddress) {
    const admission = createAdmission({
      rpcUrl: env.chainRpcUrl,
      chainId: env.chainId,
      contract: env.orchestratorAddress,
      allowlist: env.agentAllowlist,
      logger: runtime.logger.child({ component: "admission" }),
    });
    return { check: admission, close: () => admission.close() };
  }
  // No contract configured: only allow-listed operators (FORMATION_AGENT_ALLOWLIST) may join.
  const allowed = new Set(env.agentAllowlist.map((a) => a.toLowerCase()));
  return { check: { isAdmitted: async (a) => allowed.has(a.toLowerCase()) }, close: () => undefined };
}

/**
 * Console module of the control plane: agent gateway at /ws/agent, blob routes, the periodic
 * sweeper/reconciler and the cross-console notifier (LISTEN/NOTIFY on PostgreSQL).
 */
export function controlPlaneModule(options: TControlPlaneModuleOptions = {}): TConsoleModule {
  return {
    name: "control-plane",
    async start(runtime) {
      const log = runtime.logger.child({ component: "control-plane" });
      if (runtime.env.databaseProvider === "sqlite") {
        // Heartbeats, leases and logs make the control plane write-heavy: WAL with synchronous=NORMAL
        // keeps each commit from waiting for an fsync (durable at checkpoints; safe against crashes
        // of the process, may lose the last commits on power loss).
        await runtime.db.$queryRawUnsafe("PRAGMA journal_mode = WAL");
        await runtime.db.$queryRawUnsafe("PRAGMA synchronous = NORMAL");
      }
      const config = { ...loadControlPlaneConfig(), ...options.config };
      const notifier: Notifier =
        runtime.env.databaseProvider === "postgresql"
          ? await PgNotifier.connect({ connectionString: runtime.env.databaseUrl, log })
          : new InProcessNotifier();
      const admission = options.admission
        ? { check: options.admission, close: () => undefined }
        : defaultAdmission(runtime);
      const cp = new ControlPlane({
        db: runtime.db,
        config,
        dataDir: runtime.env.dataDir,
        origin: runtime.env.consoleOrigin,
        notifier,
        admission: admission.check,
        log,
      });
      runtime.services.controlPlane = cp;
      const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME_BYTES });
      runtime.upgrades.register(AGENT_WS_PATH, ({ req, socket, head }) => {
        wss.handleUpgrade(req, socket, head, (ws) => {
          cp.accept(ws, { remoteAddress: req.socket.remoteAddress });
        });
      });
      registerBlobRoutes(runtime, cp);
      cp.start();
      return async () => {
        await cp.stop();
        await new Promise<void>((resolve) => wss.close(() => resolve()));
        admission.close();
        await notifier.close();
      };
    },
  };
}
