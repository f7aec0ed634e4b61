import { execFileSync } from "node:child_process";
import { removeInstanceAccess } from "@/core/formnet/access";
import { deleteBridge } from "../host/guest-isolation";
import { defaultNetwork, QemuHypervisor } from "../hypervisor/qemu";

/**
 * What a test agent may leave on the host when it was killed, wedged or stopped on purpose (a real
 * agent keeps VMs and formnet up for the next start): every VM of `dataDir` with its access chain,
 * the VM bridge with its guard chains, and the given extra interfaces (formnet, veths).
 */
export async function cleanAgentHost(opts: {
  dataDir: string;
  interfaces?: (string | null | undefined)[];
}): Promise<void> {
  const bridge = defaultNetwork(opts.dataDir).bridge;
  const hypervisor = await QemuHypervisor.forHost({ dataDir: opts.dataDir, accelerator: "tcg" });
  try {
    for (const vm of await hypervisor.list()) {
      await hypervisor.delete(vm.instanceId);
      await removeInstanceAccess({ vmIp: vm.ipv4, bridge });
    }
  } finally {
    hypervisor.close();
  }
  await deleteBridge(bridge);
  for (const name of opts.interfaces ?? []) {
    if (name) execFileSync("sh", ["-c", `ip link del ${name} 2>/dev/null || true`]);
  }
}
