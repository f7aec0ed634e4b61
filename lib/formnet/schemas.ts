import { z } from "zod";
import { parseCidr } from "./cidr";

/** Default root block of formnet; configurable per network. */
export const FORMNET_DEFAULT_CIDR = "10.42.0.0/16";
/** Default WireGuard UDP port. Several peers on one host need distinct ports. */
export const FORMNET_DEFAULT_PORT = 51820;
/** Keepalive that keeps NAT mappings open (seconds). */
export const FORMNET_KEEPALIVE_SECONDS = 25;
/** How often peers re-fetch the peer list (ms), as the original does. */
export const FORMNET_REFRESH_MS = 60_000;

const OCTET = "(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)";
const IPV4 = new RegExp(`^${OCTET}(\\.${OCTET}){3}$`);

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

/** Dotted-quad IPv4 host address such as `10.42.0.7` (no leading zeros, no whitespace). */
export const ZIpv4 = z.string().regex(IPV4, "not an IPv4 address");

/** IPv4 CIDR block with zero host bits, such as `10.42.0.0/16` or `10.42.0.7/32`. */
export const ZIpv4Cidr = z.string().refine(isCidr, "not an IPv4 CIDR block (host bits must be zero)");

/** UDP endpoint `host:port` (IPv4 or hostname) or `[v6]:port`, port 1..65535. */
export const ZEndpoint = z
  .string()
  .max(300)
  .regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, "expected host:port")
  .refine((value) => {
    const port = Number(value.slice(value.lastIndexOf(":") + 1));
    return port > 0 && port < 65536;
  }, "port must be 1..65535");

/** True when `value` is an endpoint peers can dial (`ZEndpoint`). */
export function isEndpoint(value: string): boolean {
  return ZEndpoint.safeParse(value).success;
}

/**
 * One entry of a WireGuard interface's peer list, as `wg set … peer` takes it. (The console's
 * formnet membership record, which these are computed from, is `ZFormnetPeer` in lib/protocol.)
 */
export const ZWireguardPeer = z.object({
  publicKey: ZWireguardKey,
  endpoint: ZEndpoint.optional(),
  allowedIps: z.array(ZIpv4Cidr),
  persistentKeepalive: z.number().int().min(0).max(65535).optional(),
});
export type TWireguardPeer = z.infer<typeof ZWireguardPeer>;

/** Members that run WireGuard: node hosts, console hosts and users' laptops. */
export const ZFormnetRole = z.enum(["node", "console", "user"]);
export type TFormnetRole = z.infer<typeof ZFormnetRole>;

/**
 * Where a member might be reached, as it reports it. `local`: an address of one of its own
 * interfaces; `observed`: the source address another party saw; `configured`: set by the operator.
 */
export const ZEndpointCandidate = z.object({
  endpoint: ZEndpoint,
  source: z.enum(["local", "observed", "configured"]),
});
export type TEndpointCandidate = z.infer<typeof ZEndpointCandidate>;

/** What a laptop needs to join: its own address and interface, and the peers it may talk to. */
export const ZUserTunnelConfig = z.object({
  interfaceName: z.string().regex(/^[A-Za-z0-9_.-]{1,15}$/),
  /** The laptop's formnet address (no prefix). */
  address: ZIpv4,
  /** Root block, routed through the tunnel. */
  cidr: ZIpv4Cidr.default(FORMNET_DEFAULT_CIDR),
  /** UDP port; 0 lets the kernel pick one (laptops dial out and need no fixed port). */
  listenPort: z.number().int().min(0).max(65535).default(0),
  peers: z.array(ZWireguardPeer),
});
export type TUserTunnelConfig = z.infer<typeof ZUserTunnelConfig>;
