import { cidrContains } from "@/lib/formnet/cidr";
import { FORMNET_DEFAULT_CIDR, type TEndpointCandidate } from "@/lib/formnet/schemas";
import { run } from "./command";

type TIpAddrJson = Array<{
  ifname?: string;
  addr_info?: Array<{ family?: string; local?: string; scope?: string }>;
}>;

/**
 * Endpoint candidates this host reports to the console: every global IPv4 address of its interfaces
 * with the WireGuard port, except formnet's own addresses (reaching formnet through formnet cannot
 * bootstrap it). The console adds the observed source address of the agent's connection.
 */
export async function localEndpointCandidates(options: {
  listenPort: number;
  netns?: string;
  formnetCidr?: string;
}): Promise<TEndpointCandidate[]> {
  const text = await run("ip", ["-j", "-4", "address", "show"], { netns: options.netns });
  const parsed = JSON.parse(text) as TIpAddrJson;
  const cidr = options.formnetCidr ?? FORMNET_DEFAULT_CIDR;
  const candidates: TEndpointCandidate[] = [];
  for (const link of parsed) {
    for (const info of link.addr_info ?? []) {
      if (info.family !== "inet" || info.scope !== "global" || info.local === undefined) continue;
      if (cidrContains(cidr, info.local)) continue;
      candidates.push({ endpoint: `${info.local}:${options.listenPort}`, source: "local" });
    }
  }
  return candidates;
}
