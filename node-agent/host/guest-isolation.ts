import { createHash } from "node:crypto";
import { run } from "./exec";
import { assertIfName, deleteLink, linkExists } from "./net";

/**
 * What a guest may do on its host's network, enforced on the host (the guest is root in its VM and
 * controls its own addresses, routes, ARP and MAC):
 *
 * - L2: every VM's tap is an *isolated* bridge port (no frame, broadcast included, passes between
 *   two VMs' ports), with MAC learning off and the VM's own MAC as a static FDB entry (a guest that
 *   sends with a neighbour's MAC cannot pull its frames), and the host's neighbour entry for the
 *   VM's address is permanent (gratuitous or forged ARP cannot redirect the host's traffic for a
 *   neighbour). VM ↔ VM therefore only exists through the host's L3, where the formnet access chains
 *   decide (docs/formnet.md).
 * - L3: the bridge's guard chains let a guest *answer* (conntrack ESTABLISHED/RELATED) and nothing
 *   else: no new connection from a guest to the host (its loopback-bound services are not routable
 *   anyway; this covers everything bound to 0.0.0.0 or to the bridge address), to the operator's
 *   LAN or the internet, into formnet, or to another VM.
 */

/** iptables chain names for one bridge's guard (≤ 28 chars, unique per bridge). */
export function guardChains(bridge: string): { input: string; forward: string } {
  const h = createHash("sha256").update(bridge).digest("hex").slice(0, 10);
  return { input: `FMG-${h}-IN`, forward: `FMG-${h}-FWD` };
}

/** What one VM may send through its host, its replies to the host and beyond summed (bytes/s). */
export const GUEST_SEND_RATE = "125mb/s";
/** What the host sends into one VM's tap (tc tbf on the tap). */
export const GUEST_RECEIVE_RATE = "1gbit";

function guardRules(chain: string, bridge: string): string[] {
  // One hashlimit bucket per VM address, shared by both chains of the bridge.
  const bucket = `fmg${createHash("sha256").update(bridge).digest("hex").slice(0, 10)}`;
  return [
    `-A ${chain} -m hashlimit --hashlimit-above ${GUEST_SEND_RATE} --hashlimit-burst 250mb --hashlimit-mode srcip --hashlimit-name ${bucket} -j DROP`,
    `-A ${chain} -m conntrack --ctstate ESTABLISHED,RELATED -j RETURN`,
    `-A ${chain} -j DROP`,
  ];
}

/** Installs (idempotently, atomically) the guard chains of `bridge` and their jumps at the top. */
export async function guardBridge(bridge: string): Promise<void> {
  assertIfName(bridge);
  const { input, forward } = guardChains(bridge);
  const script = [
    "*filter",
    `:${input} - [0:0]`,
    `:${forward} - [0:0]`,
    ...guardRules(input, bridge),
    ...guardRules(forward, bridge),
    "COMMIT",
    "",
  ].join("\n");
  await run(["iptables-restore", "-w", "--noflush"], { input: script });
  for (const [builtin, chain] of [
    ["INPUT", input],
    ["FORWARD", forward],
  ] as const) {
    const jump = [builtin, "-i", bridge, "-j", chain];
    const present = await run(["iptables", "-w", "-C", ...jump], { allowFailure: true });
    if (present.exitCode !== 0) await run(["iptables", "-w", "-I", builtin, "1", ...jump.slice(1)]);
  }
}

/** Removes the guard of `bridge` (jumps, then chains). Idempotent. */
export async function removeBridgeGuard(bridge: string): Promise<void> {
  const { input, forward } = guardChains(bridge);
  for (const [builtin, chain] of [
    ["INPUT", input],
    ["FORWARD", forward],
  ] as const) {
    const jump = [builtin, "-i", bridge, "-j", chain];
    while ((await run(["iptables", "-w", "-C", ...jump], { allowFailure: true })).exitCode === 0) {
      await run(["iptables", "-w", "-D", ...jump]);
    }
    if ((await run(["iptables", "-w", "-L", chain, "-n"], { allowFailure: true })).exitCode === 0) {
      await run(["iptables", "-w", "-F", chain]);
      await run(["iptables", "-w", "-X", chain]);
    }
  }
}

/** Makes `tap` an isolated port of its bridge that carries only `mac`, and pins `ip` → `mac`. */
export async function isolatePort(opts: {
  tap: string;
  mac: string;
  ip: string;
  bridge: string;
}): Promise<void> {
  assertIfName(opts.tap);
  await run(["bridge", "link", "set", "dev", opts.tap, "isolated", "on", "learning", "off"]);
  await run(["bridge", "fdb", "replace", opts.mac, "dev", opts.tap, "master", "static"]);
  await run(["ip", "neigh", "replace", opts.ip, "lladdr", opts.mac, "dev", opts.bridge, "nud", "permanent"]);
  await run([
    "tc",
    "qdisc",
    "replace",
    "dev",
    opts.tap,
    "root",
    "tbf",
    "rate",
    GUEST_RECEIVE_RATE,
    "burst",
    "512kb",
    "latency",
    "50ms",
  ]);
}

/** Drops the pinned neighbour entry of a VM that no longer runs (its tap's FDB entry goes with it). */
export async function releasePort(opts: { ip: string; bridge: string }): Promise<void> {
  if (!linkExists(opts.bridge)) return;
  await run(["ip", "neigh", "del", opts.ip, "dev", opts.bridge], { allowFailure: true });
}

/** Deletes a VM bridge and its guard: nothing of it stays in iptables. */
export async function deleteBridge(bridge: string): Promise<void> {
  await removeBridgeGuard(bridge);
  await deleteLink(bridge);
}
