import type { TConsoleModule } from "@/server/http/console-runtime";
import { ConsoleFormnetMember } from "./console-member";

/**
 * Console module that makes the console host a formnet member (FORMATION_CONSOLE_FORMNET=1). It
 * starts before the terminal, which binds its SSH client to the member's address.
 */
export function consoleFormnetModule(): TConsoleModule {
  return {
    name: "formnet",
    async start(runtime) {
      const { services } = runtime;
      const config = services.config.consoleFormnet;
      if (!config.enabled) return undefined;
      const member = await ConsoleFormnetMember.start({
        formnet: services.formnet,
        dataDir: runtime.env.dataDir,
        listenPort: config.listenPort,
        routingTable: config.routingTable,
        endpoints: config.endpoints,
        instances: () => services.deploymentViews.placements(),
        onPeersChanged: (handler) => services.notifier.subscribe("formation_peers", () => handler()),
        log: runtime.logger.child({ component: "formnet" }),
      });
      services.consoleFormnet = member;
      return () => member.stop();
    },
  };
}
