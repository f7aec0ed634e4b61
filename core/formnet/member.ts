import { parseCidr } from "@/lib/formnet/cidr";
import { formnetBridgeName, formnetInterfaceName } from "@/lib/formnet/naming";
import {
  FORMNET_DEFAULT_CIDR,
  FORMNET_DEFAULT_PORT,
  type TEndpointCandidate,
  type TFormnetPeer,
  type TFormnetRole,
} from "@/lib/formnet/schemas";
import { createLogger, type Logger } from "../log";
import { applyInstanceAccess, removeInstanceAccess } from "./access";
import { localEndpointCandidates } from "./endpoints";
import { addInstanceRoute, ensureInstanceBridge, removeInstanceRoute } from "./instance-network";
import { PeerSync } from "./peer-sync";
import { formnetStatus, type TFormnetStatus } from "./status";
import { WireguardInterface } from "./wireguard-interface";

export type TFormnetMemberOptions = {
  role: Exclude<TFormnetRole, "user">;
  /** Stable member id (node id, console id); names the interface and the bridge. */
  id: string;
  /** Address allocated by the console, without prefix. */
  address: string;
  cidr?: string;
  listenPort?: number;
  privateKeyPath: string;
  /** The console's planned peer list for this member (`planPeersFor`). */
  fetchPeers: () => Promise<TFormnetPeer[]>;
  intervalMs?: number;
  netns?: string;
  logPath?: string;
  /** See `TWireguardUpOptions.routingTable`: needed when another member shares this namespace. */
  routingTable?: number;
  logger?: Logger;
};

/**
 * formnet on a node or the console host: the WireGuard interface, its peer sync and — on nodes — the
 * instance bridge with per-VM routes and access rules. What the agent daemon and the console wire in.
 */
export class FormnetMember {
  private constructor(
    readonly iface: WireguardInterface,
    readonly sync: PeerSync,
    /** Instance bridge (nodes only). */
    readonly bridge: string | undefined,
    private readonly options: TFormnetMemberOptions,
  ) {}

  get publicKey(): string {
    return this.iface.publicKey;
  }

  /** Bring the member up and sync its peers once; later syncs run every interval or on `refreshPeers`. */
  static async start(options: TFormnetMemberOptions): Promise<FormnetMember> {
    const logger = (options.logger ?? createLogger("formnet")).child({
      member: options.id,
      role: options.role,
    });
    const { prefix } = parseCidr(options.cidr ?? FORMNET_DEFAULT_CIDR);
    const iface = await WireguardInterface.up({
      name: formnetInterfaceName({ role: options.role, id: options.id }),
      address: `${options.address}/${prefix}`,
      listenPort: options.listenPort ?? FORMNET_DEFAULT_PORT,
      privateKeyPath: options.privateKeyPath,
      netns: options.netns,
      logPath: options.logPath,
      routingTable: options.routingTable,
      logger,
    });
    try {
      let bridge: string | undefined;
      if (options.role === "node") {
        bridge = formnetBridgeName(options.id);
        await ensureInstanceBridge({ bridge, hostAddress: options.address, netns: options.netns });
      }
      const sync = new PeerSync({
        iface,
        fetchPeers: options.fetchPeers,
        intervalMs: options.intervalMs,
        logger,
      });
      await sync.refreshNow().catch(() => {
        // The console may be unreachable at boot; the periodic sync retries and the interface is up.
      });
      sync.start();
      return new FormnetMember(iface, sync, bridge, options);
    } catch (error) {
      await iface.down().catch(() => undefined);
      throw error;
    }
  }

  /** Apply the console's latest peer list now (push). */
  refreshPeers(): ReturnType<PeerSync["refreshNow"]> {
    return this.sync.refreshNow();
  }

  /** Endpoint candidates to report to the console. */
  endpointCandidates(): Promise<TEndpointCandidate[]> {
    return localEndpointCandidates({
      listenPort: this.iface.listenPort,
      netns: this.options.netns,
      formnetCidr: this.options.cidr,
    });
  }

  status(): Promise<TFormnetStatus> {
    return formnetStatus({ name: this.iface.name, netns: this.options.netns });
  }

  /** Route a VM's /32 into the bridge and admit only `allowedSources` (owner's laptops, console). */
  async attachInstance(options: { vmIp: string; allowedSources: readonly string[] }): Promise<void> {
    const bridge = this.requireBridge();
    await applyInstanceAccess({ ...options, bridge, netns: this.options.netns });
    await addInstanceRoute({ vmIp: options.vmIp, bridge, netns: this.options.netns });
  }

  /** Change who may reach a VM (e.g. the owner joined with another laptop). */
  async updateInstanceAccess(options: { vmIp: string; allowedSources: readonly string[] }): Promise<void> {
    await applyInstanceAccess({ ...options, bridge: this.requireBridge(), netns: this.options.netns });
  }

  async detachInstance(options: { vmIp: string }): Promise<void> {
    const bridge = this.requireBridge();
    await removeInstanceRoute({ vmIp: options.vmIp, bridge, netns: this.options.netns });
    await removeInstanceAccess({ vmIp: options.vmIp, bridge, netns: this.options.netns });
  }

  /** Stop syncing and remove the interface. The bridge stays: running VMs keep their links. */
  async stop(): Promise<void> {
    await this.sync.stop();
    await this.iface.down();
  }

  private requireBridge(): string {
    if (this.bridge === undefined)
      throw new Error(`formnet member ${this.options.id} is not a node; it has no bridge`);
    return this.bridge;
  }
}
