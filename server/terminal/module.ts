import type { IncomingMessage } from "node:http";
import { join, resolve } from "node:path";
import { APP_LOGS_WS_PATH } from "@/lib/protocol/app-logs";
import { TERMINAL_WS_PATH } from "@/lib/protocol/terminal";
import { readCookie } from "@/server/api/trpc";
import type { TConsoleModule } from "@/server/http/console-runtime";
import { SESSION_COOKIE } from "@/server/services/auth/cookie";
import { AppLogsGateway } from "./app-logs-gateway";
import { TerminalGateway } from "./gateway";
import { TerminalSessions, type TTerminalSessionsOptions } from "./sessions";
import { SshCertificateAuthority } from "./ssh-ca";
import { instanceTargetResolver, type TResolveTarget } from "./target";

/** The terminal service other console parts use (the CA public key goes into every build job). */
export type TTerminalService = { sshCaPublicKey: string; sessions: TerminalSessions };

export type TTerminalModuleOptions = Partial<
  Pick<
    TTerminalSessionsOptions,
    | "graceMs"
    | "scrollbackBytes"
    | "maxSessionsPerOwner"
    | "certificateMinutes"
    | "connectTimeoutSeconds"
    | "sshPort"
  >
> & {
  /** Replaces the database resolver (tests pointing at a local sshd). */
  resolveTarget?: TResolveTarget;
  /** Source address for SSH (the console's formnet address in a multi-member host). */
  bindAddress?: string;
};

/**
 * Console module of the web terminal: the console's SSH user CA (key under
 * `$FORMATION_DATA_DIR/terminal/ca`, 0600), the session manager and the `/ws/terminal` gateway.
 * It hands the CA public key to the build service so every image trusts it.
 */
export function terminalModule(options: TTerminalModuleOptions = {}): TConsoleModule {
  return {
    name: "terminal",
    async start(runtime) {
      const { services } = runtime;
      const log = runtime.logger.child({ component: "terminal" });
      const stateDir = resolve(runtime.env.dataDir, "terminal");
      const ca = await SshCertificateAuthority.open(join(stateDir, "ca"));
      const sessions = new TerminalSessions({
        ca,
        stateDir,
        graceMs: options.graceMs ?? 60_000,
        scrollbackBytes: options.scrollbackBytes ?? 256 * 1024,
        maxSessionsPerOwner: options.maxSessionsPerOwner ?? 16,
        certificateMinutes: options.certificateMinutes ?? 5,
        connectTimeoutSeconds: options.connectTimeoutSeconds ?? 10,
        sshPort: options.sshPort ?? 22,
        // SSH leaves from the console's own formnet address when the console is a member, so it
        // crosses WireGuard to the VM's node instead of a host route.
        ...bind(options.bindAddress ?? services.consoleFormnet?.address),
        log,
      });
      services.terminal = { sshCaPublicKey: ca.publicKey, sessions };
      services.builds.sshCaPublicKey = ca.publicKey;
      const resolveTarget = options.resolveTarget ?? instanceTargetResolver(services.deploymentViews);
      const resolveOwner = async (req: IncomingMessage) => {
        const token = readCookie(req.headers.cookie ?? null, SESSION_COOKIE);
        const session = token ? await services.auth.siwe.resolve(token) : null;
        return session?.via === "cookie" ? session.address : null;
      };
      const gateway = new TerminalGateway({
        sessions,
        resolveTarget,
        resolveOwner,
        origin: runtime.env.consoleOrigin,
        log,
      });
      runtime.upgrades.register(TERMINAL_WS_PATH, ({ req, socket, head }) =>
        gateway.handleUpgrade(req, socket, head),
      );
      const appLogs = new AppLogsGateway({
        ca,
        stateDir,
        resolveTarget,
        resolveOwner,
        origin: runtime.env.consoleOrigin,
        sshPort: options.sshPort ?? 22,
        connectTimeoutSeconds: options.connectTimeoutSeconds ?? 10,
        certificateMinutes: options.certificateMinutes ?? 5,
        maxStreamsPerOwner: options.maxSessionsPerOwner ?? 16,
        ...bind(options.bindAddress ?? services.consoleFormnet?.address),
        log: log.child({ part: "app-logs" }),
      });
      runtime.upgrades.register(APP_LOGS_WS_PATH, ({ req, socket, head }) =>
        appLogs.handleUpgrade(req, socket, head),
      );
      return async () => {
        await appLogs.close();
        await gateway.close();
        await sessions.closeAll();
      };
    },
  };
}

function bind(address: string | undefined): { bindAddress?: string } {
  return address ? { bindAddress: address } : {};
}
