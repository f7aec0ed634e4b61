import { hostCidr } from "@/lib/formnet/cidr";
import { instanceChainName } from "@/lib/formnet/naming";
import { run, succeeds } from "./command";

export type TInstanceAccessOptions = {
  /** The instance VM's formnet address. */
  vmIp: string;
  /** Formnet addresses allowed to open connections to the VM: its owner's laptops and the console. */
  allowedSources: readonly string[];
  /** The node's instance bridge the VM sits on. */
  bridge: string;
  netns?: string;
};

function jumpRule(options: { vmIp: string; bridge: string; chain: string }): string[] {
  return ["FORWARD", "-o", options.bridge, "-d", hostCidr(options.vmIp), "-j", options.chain];
}

/**
 * Second layer of the reachability model, on the VM's host node: only the owner's peers and the
 * console may open connections to the VM; everything else routed into the bridge for it is dropped
 * (a laptop controls its own allowed-ips, so the first layer alone is not enough). The host itself
 * reaches the VM through OUTPUT, which these rules do not touch. Replies to connections the VM opened
 * pass. Idempotent: re-applying replaces the chain's rules atomically (iptables-restore --noflush).
 */
export async function applyInstanceAccess(options: TInstanceAccessOptions): Promise<{ chain: string }> {
  const chain = instanceChainName(options);
  const sources = [...new Set(options.allowedSources.map(hostCidr))].sort();
  const script = [
    "*filter",
    // Declaring the chain under --noflush flushes just this chain, in the same transaction as the refill.
    `:${chain} - [0:0]`,
    `-A ${chain} -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT`,
    ...sources.map((source) => `-A ${chain} -s ${source} -j ACCEPT`),
    `-A ${chain} -j DROP`,
    "COMMIT",
    "",
  ].join("\n");
  await run("iptables-restore", ["-w", "--noflush"], { netns: options.netns, input: script });
  const jump = jumpRule({ vmIp: options.vmIp, bridge: options.bridge, chain });
  if (!(await succeeds("iptables", ["-w", "-C", ...jump], { netns: options.netns }))) {
    // Insert at the top so that broader ACCEPT rules of the host cannot pre-empt it.
    await run("iptables", ["-w", "-I", ...jump.slice(0, 1), "1", ...jump.slice(1)], { netns: options.netns });
  }
  return { chain };
}

/** Remove the VM's chain and every jump to it. Idempotent. */
export async function removeInstanceAccess(
  options: Omit<TInstanceAccessOptions, "allowedSources">,
): Promise<void> {
  const chain = instanceChainName(options);
  const jump = jumpRule({ vmIp: options.vmIp, bridge: options.bridge, chain });
  while (await succeeds("iptables", ["-w", "-C", ...jump], { netns: options.netns })) {
    await run("iptables", ["-w", "-D", ...jump], { netns: options.netns });
  }
  if (await succeeds("iptables", ["-w", "-L", chain, "-n"], { netns: options.netns })) {
    await run("iptables", ["-w", "-F", chain], { netns: options.netns });
    await run("iptables", ["-w", "-X", chain], { netns: options.netns });
  }
}

/** Current source allow-list of a VM's chain (for status pages and tests); empty when absent. */
export async function listInstanceAccess(options: {
  vmIp: string;
  bridge: string;
  netns?: string;
}): Promise<string[]> {
  const chain = instanceChainName(options);
  let text: string;
  try {
    text = await run("iptables", ["-w", "-S", chain], { netns: options.netns });
  } catch {
    return [];
  }
  return [...text.matchAll(/^-A \S+ -s (\S+) -j ACCEPT$/gm)].map((m) => m[1] ?? "").filter(Boolean);
}
