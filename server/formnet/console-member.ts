import { join } from "node:path";
import { localEndpointCandidates } from "@/core/formnet/endpoints";
import { ensureKeyFile } from "@/core/formnet/keys";
import { PeerSync } from "@/core/formnet/peer-sync";
import { WireguardInterface } from "@/core/formnet/wireguard-interface";
import type { Logger } from "@/core/log";
import { parseCidr } from "@/lib/formnet/cidr";
import { consoleMemberRef, formnetInterfaceName } from "@/lib/formnet/naming";
import { wireguardPeersFrom } from "@/lib/formnet/wireguard-peers";
import type { FormnetService } from "@/server/services/nodes/formnet-service";

export type TConsoleFormnetOptions = {
  formnet: FormnetService;
  /** The console's data directory: the member's key is `formnet/wg.key` in it (0600). */
  dataDir: string;
  listenPort: number;
  /**
   * Route formnet in this policy-routing table for packets from the console's own address, so a
   * laptop tunnel on the same host keeps the main table (docs/formnet.md, "Several members on one
   * host"). Undefined: the main table.
   */
  routingTable: number | undefined;
  /** Endpoints peers dial; empty: this host's own addresses with `listenPort`. */
  endpoints: readonly string[];
  /** Every live instance's node and address: the console routes each VM's /32 to its node. */
  instances: () => Promise<ReadonlyArray<{ nodeId: string; formnetIp: string | null }>>;
  /** Registers a handler for peer-list changes; returns its unsubscribe. */
  onPeersChanged: (handler: () => void) => () => void;
  log: Logger;
  refreshMs?: number;
};

/**
 * The console host as a formnet member of its own: a WireGuard interface with an address from the
 * console's own allocator, peered with every node (and the VMs behind it). Every console-to-VM
 * path (web terminal SSH, health checks) leaves from this address over WireGuard, exactly as it
 * would from a console on another machine than the nodes.
 */
export class ConsoleFormnetMember {
  private constructor(
    readonly ref: string,
    readonly address: string,
    readonly publicKey: string,
    private readonly iface: WireguardInterface,
    private readonly sync: PeerSync,
    private readonly unsubscribe: () => void,
  ) {}

  get interfaceName(): string {
    return this.iface.name;
  }

  static async start(o: TConsoleFormnetOptions): Promise<ConsoleFormnetMember> {
    const key = await ensureKeyFile(join(o.dataDir, "formnet", "wg.key"));
    // Stable across restarts (the key is), distinct between console hosts (their keys are).
    const ref = consoleMemberRef(key.publicKey);
    const endpoints =
      o.endpoints.length > 0
        ? [...o.endpoints]
        : (await localEndpointCandidates({ listenPort: o.listenPort, formnetCidr: o.formnet.cidr })).map(
            (c) => c.endpoint,
          );
    const address = await o.formnet.allocate({ kind: "console", ref, publicKey: key.publicKey, endpoints });
    const { prefix } = parseCidr(o.formnet.cidr);
    const log = o.log.child({ part: "formnet", ref, address });
    const iface = await WireguardInterface.up({
      name: formnetInterfaceName({ role: "console", id: ref }),
      address: `${address}/${prefix}`,
      listenPort: o.listenPort,
      privateKeyPath: key.privateKeyPath,
      logPath: join(o.dataDir, "formnet", "wireguard-go.log"),
      routingTable: o.routingTable,
      logger: log,
    });
    const sync = new PeerSync({
      iface,
      fetchPeers: async () =>
        wireguardPeersFrom({
          peers: await o.formnet.peers(),
          selfPublicKey: key.publicKey,
          instances: await o.instances(),
        }),
      intervalMs: o.refreshMs,
      logger: log,
    });
    sync.start();
    const unsubscribe = o.onPeersChanged(() => {
      sync.refreshNow().catch((err: unknown) => log.warn({ err }, "formnet peer refresh failed"));
    });
    log.info({ iface: iface.name, listenPort: o.listenPort, endpoints }, "console joined formnet");
    return new ConsoleFormnetMember(ref, address, key.publicKey, iface, sync, unsubscribe);
  }

  /** Leaves the mesh on this host; the address stays the console's for its next start. */
  async stop(): Promise<void> {
    this.unsubscribe();
    await this.sync.stop();
    await this.iface.down();
  }
}
