import type { TConsoleModule } from "@/server/http/console-runtime";
import { ConsoleFormnetMember } from "./console-member";

declare module "@/server/http/console-runtime" {
  interface ConsoleServices {
    /** This console host's formnet membership, when FORMATION_CONSOLE_FORMNET=1. */
    consoleFormnet: ConsoleFormnetMember;
  }
}

/**
 * Console module that makes the console host a formnet member (FORMATION_CONSOLE_FORMNET=1). It
 * starts after the control plane (it allocates its address there) and before the terminal, which
 * binds its SSH client to the member's address.
 */
export function consoleFormnetModule(): TConsoleModule {
  return {
    name: "formnet",
    async start(runtime) {
      const cp = runtime.services.controlPlane;
      const config = cp?.config.consoleFormnet;
      if (!cp || !config?.enabled) return undefined;
      const member = await ConsoleFormnetMember.start({
        formnet: cp.formnet,
        dataDir: runtime.env.dataDir,
        listenPort: config.listenPort,
        routingTable: config.routingTable,
        endpoints: config.endpoints,
        instances: () => cp.repos.instances.placements(),
        onPeersChanged: (handler) => cp.onPeersChanged(handler),
        log: runtime.logger.child({ component: "formnet" }),
      });
      runtime.services.consoleFormnet = member;
      return () => member.stop();
    },
  };
}
