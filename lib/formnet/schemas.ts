import { z } from "zod";
import { ipToInt, parseCidr } from "./cidr";

/** Default root block of formnet; configurable per network. */
export const FORMNET_DEFAULT_CIDR = "10.42.0.0/16";
/** Default WireGuard UDP port. Several peers on one host need distinct ports. */
export const FORMNET_DEFAULT_PORT = 51820;
/** Keepalive that keeps NAT mappings open (seconds). */
export const FORMNET_KEEPALIVE_SECONDS = 25;
/** How often peers re-fetch the peer list (ms), as the original does. */
export const FORMNET_REFRESH_MS = 60_000;

const isIpv4 = (value: string): boolean => {
  try {
    ipToInt(value);
    return true;
  } catch {
    return false;
  }
};
const isCidr = (value: string): boolean => {
  try {
    parseCidr(value);
    return true;
  } catch {
    return false;
  }
};

/** A WireGuard public key: 32 bytes, base64 (44 characters ending in `=`). */
export const ZWireguardKey = z
  .string()
  .regex(/^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/, "not a WireGuard key");

/** IPv4 host address such as `10.42.0.7`. */
export const ZIpv4 = z.string().refine(isIpv4, "not an IPv4 address");

/** IPv4 CIDR block with zero host bits, such as `10.42.0.7/32`. */
export const ZIpv4Cidr = z.string().refine(isCidr, "not an IPv4 CIDR block (host bits must be zero)");

/** UDP endpoint `host:port` (IPv4 or hostname) or `[v6]:port`. */
export const ZEndpoint = z
  .string()
  .regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, "expected host:port")
  .refine((value) => {
    const port = Number(value.slice(value.lastIndexOf(":") + 1));
    return port > 0 && port < 65536;
  }, "port must be 1..65535");

/** One entry of a WireGuard interface's peer list, as `wg set … peer` takes it. */
export const ZFormnetPeer = z.object({
  publicKey: ZWireguardKey,
  endpoint: ZEndpoint.optional(),
  allowedIps: z.array(ZIpv4Cidr),
  persistentKeepalive: z.number().int().min(0).max(65535).optional(),
});
export type TFormnetPeer = z.infer<typeof ZFormnetPeer>;

export const ZFormnetRole = z.enum(["node", "console", "user"]);
export type TFormnetRole = z.infer<typeof ZFormnetRole>;

/**
 * Where a peer might be reached. `local`: an address of one of the peer's own interfaces (works on
 * the same LAN); `observed`: the source address the console saw on the peer's connection (works
 * through a NAT that keeps the port, i.e. not symmetric NAT); `configured`: set by the operator.
 */
export const ZEndpointCandidate = z.object({
  endpoint: ZEndpoint,
  source: z.enum(["local", "observed", "configured"]),
});
export type TEndpointCandidate = z.infer<typeof ZEndpointCandidate>;

/** A WireGuard-running member of formnet: a node host, the console host or a user's laptop. */
export const ZFormnetMember = z.object({
  id: z.string().min(1),
  role: ZFormnetRole,
  publicKey: ZWireguardKey,
  /** The member's own formnet address, e.g. `10.42.0.3`. */
  address: ZIpv4,
  endpoints: z.array(ZEndpointCandidate).default([]),
  /** Wallet address of the user a laptop belongs to (role `user`). */
  owner: z.string().optional(),
});
export type TFormnetMember = z.infer<typeof ZFormnetMember>;

/** An instance VM's formnet address; reached through its host node, it runs no WireGuard itself. */
export const ZFormnetInstance = z.object({
  instanceId: z.string().min(1),
  nodeId: z.string().min(1),
  /** Wallet address of the instance's owner. */
  owner: z.string().min(1),
  address: ZIpv4,
});
export type TFormnetInstance = z.infer<typeof ZFormnetInstance>;

/** What a laptop needs to join: its own address and interface, and the peers it may talk to. */
export const ZUserTunnelConfig = z.object({
  interfaceName: z.string().regex(/^[A-Za-z0-9_.-]{1,15}$/),
  /** The laptop's formnet address (no prefix). */
  address: ZIpv4,
  /** Root block, routed through the tunnel. */
  cidr: ZIpv4Cidr.default(FORMNET_DEFAULT_CIDR),
  /** UDP port; 0 lets the kernel pick one (laptops dial out and need no fixed port). */
  listenPort: z.number().int().min(0).max(65535).default(0),
  peers: z.array(ZFormnetPeer),
});
export type TUserTunnelConfig = z.infer<typeof ZUserTunnelConfig>;
