import { RELAY_WS_PATH } from "@/lib/protocol/relay";
import type { TConsoleModule } from "@/server/http/console-runtime";
import { ConsoleFormnetMember } from "./console-member";
import { RelayGateway } from "./relay-gateway";
import { RelayHub } from "./relay-hub";

declare module "@/server/http/console-runtime" {
  interface ConsoleServices {
    /** This console host's formnet membership, when FORMATION_CONSOLE_FORMNET=1. */
    consoleFormnet: ConsoleFormnetMember;
    /** The formnet relay's hub (members connected, relayed and dropped counts). */
    formnetRelay: RelayHub;
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
      if (!cp) return undefined;
      // The relay (/ws/relay) serves every member that has no direct path to a peer.
      const relayHub = new RelayHub();
      const relay = new RelayGateway({
        runtime,
        cp,
        hub: relayHub,
        log: runtime.logger.child({ component: "relay" }),
      });
      runtime.upgrades.register(RELAY_WS_PATH, ({ req, socket, head }) =>
        relay.handleUpgrade(req, socket, head),
      );
      runtime.services.formnetRelay = relayHub;
      const config = cp.config.consoleFormnet;
      if (!config.enabled) return () => relay.close();
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
      return async () => {
        await relay.close();
        await member.stop();
      };
    },
  };
}
