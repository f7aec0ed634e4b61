import { RELAY_WS_PATH } from "@/lib/protocol/relay";
import type { TConsoleModule } from "@/server/http/console-runtime";
import { ConsoleFormnetMember } from "./console-member";
import { RelayGateway } from "./relay-gateway";
import { RelayHub } from "./relay-hub";

/**
 * Console module that serves the formnet relay (/ws/relay) and, when FORMATION_CONSOLE_FORMNET=1,
 * makes the console host a formnet member. It starts before the terminal, which binds its SSH
 * client to the member's address.
 */
export function consoleFormnetModule(): TConsoleModule {
  return {
    name: "formnet",
    async start(runtime) {
      const { services } = runtime;
      // The relay (/ws/relay) serves every member that has no direct path to a peer.
      const relayHub = new RelayHub();
      const relay = new RelayGateway({
        callers: runtime.callers,
        nodes: services.nodes,
        formnet: services.formnet,
        hub: relayHub,
        log: runtime.logger.child({ component: "relay" }),
      });
      runtime.upgrades.register(RELAY_WS_PATH, ({ req, socket, head }) =>
        relay.handleUpgrade(req, socket, head),
      );
      services.formnetRelay = relayHub;
      const config = services.config.consoleFormnet;
      if (!config.enabled) return () => relay.close();
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
      return async () => {
        await relay.close();
        await member.stop();
      };
    },
  };
}
