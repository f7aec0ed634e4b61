import { createHash } from "node:crypto";
import { formatCidr, intToIp, parseCidr } from "@/lib/formnet/cidr";

/**
 * The plan of the multinode local network (`FORMATION_NODES=N npm start`): names and addresses
 * only, no side effects, so it can be unit-tested and printed.
 *
 * The machine's root network namespace is the console's host. It holds a bridge that plays the
 * internet (the underlay, `198.18.0.0/24` by default: RFC 2544's benchmarking block, which no LAN
 * uses). Node n is a namespace `<prefix>-node-<n>` on a private LAN of its own (`172.30.<n>.0/24`),
 * behind a NAT router namespace `<prefix>-router-<n>` whose WAN address sits on the underlay. The
 * router masquerades the node's traffic and forwards the node's WireGuard UDP port, as the
 * original's README tells operators to do.
 */

export const DEFAULT_NETNS_PREFIX = "formation";
export const DEFAULT_UNDERLAY_CIDR = "198.18.0.0/24";
export const DEFAULT_LAN_CIDR = "172.30.0.0/16";
/** Router n's WAN address is underlay base + ROUTER_OFFSET + n (.1 is the console's host). */
const ROUTER_OFFSET = 10;

export type TMultinodeLayoutOptions = {
  nodes: number;
  /** Namespace names are `<prefix>-node-<n>` and `<prefix>-router-<n>`. */
  prefix?: string;
  /** The simulated internet; a /24 or larger. Its first host address is the console's host. */
  underlayCidr?: string;
  /** Node n's LAN is the n-th /24 of this block (a /16 gives up to 255 nodes). */
  lanCidr?: string;
  /** UDP ports each node's router forwards to the node (its formnet port). */
  forwardUdpPorts?: readonly number[];
  /** Routers whose NAT is not the default (nodes: `forward`; the laptop, key 0: `plain`). */
  nat?: Readonly<Record<number, TNatMode>>;
};

/** How a host's router treats traffic (MultinodeNetwork.setNat). */
export type TNatMode = "forward" | "plain" | "strict";

export type THostLayout = {
  /** The router's NAT behaviour now. */
  nat: TNatMode;
  /** 1..N for node hosts; 0 for the laptop. */
  n: number;
  nodeNetns: string;
  routerNetns: string;
  /** Root-namespace end of the router's WAN veth (host-wide unique name). */
  rootVeth: string;
  routerWanIp: string;
  routerLanIp: string;
  nodeLanIp: string;
  lanCidr: string;
};

export type TMultinodeLayout = {
  prefix: string;
  /** Short tag of the prefix; names root-namespace interfaces and iptables chains. */
  tag: string;
  underlayCidr: string;
  underlayPrefixLength: number;
  /** The console's host on the underlay: what agents dial. */
  consoleHostIp: string;
  /** Root-namespace bridge of the underlay. */
  wanBridge: string;
  /** iptables chains of the root namespace (filter FORWARD and nat POSTROUTING). */
  forwardChain: string;
  natChain: string;
  forwardUdpPorts: readonly number[];
  hosts: THostLayout[];
  /**
   * A developer's laptop behind a NAT of its own that forwards nothing (as hotel Wi-Fi): its
   * formnet tunnel dials out (`form manage formnet-up --netns <laptop.nodeNetns>`).
   */
  laptop: THostLayout;
};

/** Computes the layout; throws a message naming the setting when the blocks are too small. */
export function multinodeLayout(options: TMultinodeLayoutOptions): TMultinodeLayout {
  const prefix = options.prefix ?? DEFAULT_NETNS_PREFIX;
  if (!/^[a-z][a-z0-9-]{0,30}$/.test(prefix))
    throw new Error(`netns prefix "${prefix}": use lowercase letters, digits and dashes (≤ 31)`);
  if (!Number.isInteger(options.nodes) || options.nodes < 1)
    throw new Error(`FORMATION_NODES must be a whole number ≥ 1 (got ${options.nodes})`);
  const underlay = parseCidr(options.underlayCidr ?? DEFAULT_UNDERLAY_CIDR);
  const lan = parseCidr(options.lanCidr ?? DEFAULT_LAN_CIDR);
  const underlaySize = 2 ** (32 - underlay.prefix);
  if (underlay.prefix > 24 || ROUTER_OFFSET + options.nodes + 1 >= underlaySize)
    throw new Error(
      `FORMATION_UNDERLAY_CIDR ${options.underlayCidr ?? DEFAULT_UNDERLAY_CIDR} has no room for ${options.nodes} routers (use a /24 or larger)`,
    );
  if (lan.prefix > 23 || options.nodes > 2 ** (24 - lan.prefix) - 1)
    throw new Error(
      `FORMATION_LAN_CIDR ${options.lanCidr ?? DEFAULT_LAN_CIDR} has no room for ${options.nodes} node LANs of a /24 each`,
    );
  const base = underlay.network;
  const lanBase = lan.network;
  const tag = `fx${createHash("sha256").update(prefix).digest("hex").slice(0, 4)}`;
  const host = (n: number, name: string): THostLayout => {
    const lanNet = lanBase + n * 256;
    return {
      n,
      nat: options.nat?.[n] ?? (n === 0 ? "plain" : "forward"),
      nodeNetns: `${prefix}-${name}`,
      routerNetns: `${prefix}-router-${n === 0 ? "laptop" : n}`,
      rootVeth: `${tag}w${n}`,
      routerWanIp: intToIp(base + ROUTER_OFFSET + n),
      routerLanIp: intToIp(lanNet + 1),
      nodeLanIp: intToIp(lanNet + 2),
      lanCidr: `${intToIp(lanNet)}/24`,
    };
  };
  const hosts: THostLayout[] = [];
  for (let n = 1; n <= options.nodes; n++) hosts.push(host(n, `node-${n}`));
  return {
    prefix,
    tag,
    underlayCidr: formatCidr(underlay),
    underlayPrefixLength: underlay.prefix,
    consoleHostIp: intToIp(base + 1),
    wanBridge: `${tag}wan`,
    forwardChain: `${tag.toUpperCase()}-FWD`,
    natChain: `${tag.toUpperCase()}-NAT`,
    forwardUdpPorts: options.forwardUdpPorts ?? [51820],
    hosts,
    laptop: host(0, "laptop"),
  };
}
