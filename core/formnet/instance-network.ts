import { hostCidr } from "@/lib/formnet/cidr";
import { run, succeeds } from "./command";

/**
 * Host side of instance networking on a node. VMs run no WireGuard: each has its formnet address as a
 * static /32 on a bridge of its host, with the host's own formnet address as gateway. The host routes
 * the VM's /32 into the bridge and advertises it in its allowed-ips on other peers (`planPeersFor`).
 *
 * Inside the VM: `ip addr add VM/32 dev eth0; ip route add HOST dev eth0; ip route add default via HOST`.
 */

export type TBridgeOptions = {
  bridge: string;
  /** The node's own formnet address; the VMs' gateway. */
  hostAddress: string;
  netns?: string;
};

/**
 * Create the instance bridge (if missing), give it the host's formnet address as a /32 and enable
 * forwarding. Instance-bound traffic into the bridge is dropped unless a VM's access chain admits it,
 * so a VM whose access rules are not yet applied is unreachable rather than open.
 */
export async function ensureInstanceBridge(options: TBridgeOptions): Promise<void> {
  const { bridge, netns } = options;
  if (!(await succeeds("ip", ["link", "show", bridge], { netns }))) {
    await run("ip", ["link", "add", bridge, "type", "bridge"], { netns });
  }
  await run("ip", ["address", "replace", hostCidr(options.hostAddress), "dev", bridge], { netns });
  await run("ip", ["link", "set", bridge, "up"], { netns });
  await run("sysctl", ["-q", "-w", "net.ipv4.ip_forward=1"], { netns });
  const deny = ["FORWARD", "-o", bridge, "-j", "DROP"];
  if (!(await succeeds("iptables", ["-w", "-C", ...deny], { netns }))) {
    await run("iptables", ["-w", "-A", ...deny], { netns });
  }
}

/** Remove the bridge and its default-deny rule. Idempotent. */
export async function removeInstanceBridge(options: { bridge: string; netns?: string }): Promise<void> {
  const { bridge, netns } = options;
  const deny = ["FORWARD", "-o", bridge, "-j", "DROP"];
  while (await succeeds("iptables", ["-w", "-C", ...deny], { netns })) {
    await run("iptables", ["-w", "-D", ...deny], { netns });
  }
  if (await succeeds("ip", ["link", "show", bridge], { netns })) {
    await run("ip", ["link", "del", bridge], { netns });
  }
}

/** Route a VM's /32 into the bridge (replaces an existing route; idempotent). */
export async function addInstanceRoute(options: {
  vmIp: string;
  bridge: string;
  netns?: string;
}): Promise<void> {
  await run("ip", ["route", "replace", hostCidr(options.vmIp), "dev", options.bridge, "scope", "link"], {
    netns: options.netns,
  });
}

/** Remove a VM's /32 route. Idempotent. */
export async function removeInstanceRoute(options: {
  vmIp: string;
  bridge: string;
  netns?: string;
}): Promise<void> {
  // `ip route del` fails when the route is already gone, which is the state we want.
  await succeeds("ip", ["route", "del", hostCidr(options.vmIp), "dev", options.bridge], {
    netns: options.netns,
  });
}
