import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { FormationError } from "@/lib/errors";
import { run } from "./exec";

/** Linux interface names are at most 15 bytes (IFNAMSIZ - 1). */
const IFNAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$/;

export class InterfaceNameError extends FormationError<"BAD_INTERFACE_NAME"> {
  override readonly name = "InterfaceNameError";
  constructor(readonly ifname: string) {
    super("BAD_INTERFACE_NAME", `"${ifname}" is not a valid interface name (1–15 chars of [A-Za-z0-9_.-])`, {
      details: { ifname },
    });
  }
}

export function assertIfName(name: string): void {
  if (!IFNAME.test(name)) throw new InterfaceNameError(name);
}

/**
 * A host-unique interface name from a stable key: `<prefix><hex>` cut to 15 chars. Names must be
 * unique across the whole host (several agents may share one), so they derive from the agent's data
 * dir plus the instance id rather than from a counter.
 */
export function shortIfName(prefix: string, key: string): string {
  const hex = createHash("sha256").update(key).digest("hex");
  const name = `${prefix}${hex}`.slice(0, 15);
  assertIfName(name);
  return name;
}

export function linkExists(name: string): boolean {
  return existsSync(`/sys/class/net/${name}`);
}

/** A stable locally administered unicast MAC for a bridge, from its name. */
export function bridgeMac(name: string): string {
  const hex = createHash("sha256").update(name).digest("hex");
  return `02:${(hex.match(/../g) ?? []).slice(0, 5).join(":")}`;
}

/** Creates (if needed) a bridge carrying the VMs' link-local gateway address, and enables forwarding. */
export async function ensureBridge(opts: { name: string; gatewayIp: string }): Promise<void> {
  assertIfName(opts.name);
  if (!linkExists(opts.name)) {
    // A fixed address: a bridge otherwise takes the lowest MAC of its ports, so the gateway's MAC
    // would change under every running VM (whose ARP cache keeps the old one for ~30 s) whenever a
    // VM's tap comes or goes — a resumed VM's new tap included.
    await run(["ip", "link", "add", "name", opts.name, "address", bridgeMac(opts.name), "type", "bridge"]);
  }
  const mac = bridgeMac(opts.name);
  // A bridge made before its address was fixed gets it once (its VMs re-learn the gateway).
  const current = await readFile(`/sys/class/net/${opts.name}/address`, "utf8").catch(() => mac);
  if (current.trim() !== mac) await run(["ip", "link", "set", "dev", opts.name, "address", mac]);
  const addrs = await run(["ip", "-o", "-4", "addr", "show", "dev", opts.name]);
  if (!addrs.stdout.includes(` ${opts.gatewayIp}/`)) {
    await run(["ip", "addr", "add", `${opts.gatewayIp}/32`, "dev", opts.name]);
  }
  await run(["ip", "link", "set", opts.name, "up"]);
  await enableIpForward();
}

export async function enableIpForward(): Promise<void> {
  const path = "/proc/sys/net/ipv4/ip_forward";
  if ((await readFile(path, "utf8")).trim() !== "1") await writeFile(path, "1\n");
}

/** A tap for one VM, attached to the bridge and up. Recreated when a stale one is left over. */
export async function createTap(opts: { name: string; bridge: string }): Promise<void> {
  assertIfName(opts.name);
  if (linkExists(opts.name)) await deleteLink(opts.name);
  await run(["ip", "tuntap", "add", "dev", opts.name, "mode", "tap"]);
  await run(["ip", "link", "set", opts.name, "master", opts.bridge, "up"]);
}

export async function deleteLink(name: string): Promise<void> {
  if (!linkExists(name)) return;
  await run(["ip", "link", "del", name], { allowFailure: true });
}

/** Host route for one VM's address: the host, not the VM, is formnet's peer for it. */
export async function addHostRoute(opts: { ip: string; bridge: string }): Promise<void> {
  await run(["ip", "route", "replace", `${opts.ip}/32`, "dev", opts.bridge]);
}

export async function deleteHostRoute(opts: { ip: string; bridge: string }): Promise<void> {
  await run(["ip", "route", "del", `${opts.ip}/32`, "dev", opts.bridge], { allowFailure: true });
}

/** rx/tx byte counters of an interface (0 when it does not exist). */
export async function linkStats(name: string): Promise<{ rxBytes: number; txBytes: number }> {
  const read = async (f: string) => {
    try {
      return Number((await readFile(`/sys/class/net/${name}/statistics/${f}`, "utf8")).trim());
    } catch {
      return 0;
    }
  };
  return { rxBytes: await read("rx_bytes"), txBytes: await read("tx_bytes") };
}
