import { isEndpoint } from "./schemas";

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
    // An address peers could not dial (an IPv6 zone id, say) is not advertised at all.
    if (isEndpoint(endpoint) && !out.includes(endpoint)) out.push(endpoint);
  }
  return out.slice(0, 16);
}
