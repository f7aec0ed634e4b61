import type { TEndpointCandidate } from "./schemas";

const PRIVATE_BLOCKS: ReadonlyArray<readonly [number, number]> = [
  [0x0a000000, 8], // 10/8
  [0xac100000, 12], // 172.16/12
  [0xc0a80000, 16], // 192.168/16
  [0x64400000, 10], // 100.64/10 (carrier-grade NAT)
  [0x7f000000, 8], // loopback
];

function hostOf(endpoint: string): string {
  return endpoint.slice(0, endpoint.lastIndexOf(":")).replace(/^\[|\]$/g, "");
}

function ipv4(host: string): number | undefined {
  const parts = host.split(".");
  if (parts.length !== 4 || parts.some((p) => !/^\d{1,3}$/.test(p) || Number(p) > 255)) return undefined;
  return parts.reduce((acc, p) => acc * 256 + Number(p), 0) >>> 0;
}

function isPrivate(ip: number): boolean {
  return PRIVATE_BLOCKS.some(([net, prefix]) => (ip & ((0xffffffff << (32 - prefix)) >>> 0)) >>> 0 === net);
}

function sameSlash24(a: number, b: number): boolean {
  return a >>> 8 === b >>> 8;
}

/**
 * Pick the endpoint `viewer` should dial for a peer. A peer on the viewer's own LAN (a local
 * candidate in one of the viewer's /24s) wins; then an operator-configured one; then a public
 * address (observed by the console or local); then anything. Undefined when the peer offered none:
 * the peer then dials in and WireGuard learns its endpoint from the first authenticated packet.
 */
export function chooseEndpoint(options: {
  viewer: readonly TEndpointCandidate[];
  peer: readonly TEndpointCandidate[];
}): string | undefined {
  const viewerIps = options.viewer
    .filter((c) => c.source === "local")
    .map((c) => ipv4(hostOf(c.endpoint)))
    .filter((ip): ip is number => ip !== undefined);
  const sameLan = options.peer.find((c) => {
    const ip = ipv4(hostOf(c.endpoint));
    return c.source === "local" && ip !== undefined && viewerIps.some((v) => sameSlash24(v, ip));
  });
  if (sameLan) return sameLan.endpoint;
  const configured = options.peer.find((c) => c.source === "configured");
  if (configured) return configured.endpoint;
  const isPublic = (c: TEndpointCandidate): boolean => {
    const ip = ipv4(hostOf(c.endpoint));
    // Hostnames are assumed to be public names.
    return ip === undefined || !isPrivate(ip);
  };
  const observedPublic = options.peer.find((c) => c.source === "observed" && isPublic(c));
  if (observedPublic) return observedPublic.endpoint;
  const anyPublic = options.peer.find(isPublic);
  if (anyPublic) return anyPublic.endpoint;
  return options.peer.find((c) => c.source === "observed")?.endpoint ?? options.peer[0]?.endpoint;
}

/**
 * The endpoints the console advertises for a node, best first: the operator's configured ones,
 * then the address the console saw the node's connection come from with the node's WireGuard
 * port. Behind a NAT that forwards that port (or keeps it, endpoint-independent mapping) the
 * observed one is how peers outside the node's LAN reach it; no configuration needed.
 */
export function advertisedEndpoints(options: {
  configured: readonly string[];
  observedAddress: string | undefined;
  listenPort: number;
}): string[] {
  const out = [...options.configured];
  const observed = options.observedAddress?.replace(/^::ffff:/, "");
  if (observed) {
    const endpoint = observed.includes(":")
      ? `[${observed}]:${options.listenPort}`
      : `${observed}:${options.listenPort}`;
    if (!out.includes(endpoint)) out.push(endpoint);
  }
  return out.slice(0, 16);
}
