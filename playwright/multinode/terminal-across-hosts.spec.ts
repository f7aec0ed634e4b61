import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { expect, type Page, test } from "@playwright/test";
import { readStatusFile } from "@/node-agent/config/status-file";
import {
  consoleMemberInterface,
  MULTINODE_USER_KEY,
  useMultinodePlatform,
} from "@/scripts/lib/multinode-test-platform";
import { acceptConfirms, deployThroughUi, screenshot, signInThroughUi } from "../fixtures/session";

const exec = promisify(execFile);

type TInstance = { instanceId: string; nodeId: string; status: string };

async function myInstances(page: Page): Promise<TInstance[]> {
  const res = await page.request.get(
    `/api/trpc/instances.list?input=${encodeURIComponent(JSON.stringify({ json: {} }))}`,
  );
  expect(res.status()).toBe(200);
  return ((await res.json()) as { result: { data: { json: TInstance[] } } }).result.data.json;
}

/** Bytes the console's WireGuard interface exchanged with one peer (`wg show … transfer`). */
async function transferWith(iface: string, publicKey: string): Promise<number> {
  const { stdout } = await exec("wg", ["show", iface, "transfer"]);
  const line = stdout.split("\n").find((l) => l.startsWith(publicKey));
  const [, rx, tx] = line?.split("\t") ?? [];
  return Number(rx ?? 0) + Number(tx ?? 0);
}

/**
 * The web terminal on the multinode network: the console host and node host 3 are different hosts
 * behind NAT, so the shell's bytes must cross WireGuard from the console's own formnet address.
 */
test("the web terminal opens a shell on a replica on node host 3, over formnet", async ({
  page,
}, testInfo) => {
  const platform = await useMultinodePlatform();
  acceptConfirms(page);
  await signInThroughUi(page, { path: "/instances", privateKey: MULTINODE_USER_KEY });
  const host3 = await readStatusFile(join(platform.dataDir, "nodes", "3", "agent", "status.json"));
  const node3 = host3?.nodeId ?? "";
  expect(node3).not.toBe("");
  let target = (await myInstances(page)).find((i) => i.nodeId === node3 && i.status === "running");
  if (!target) {
    // Run on its own (no earlier multinode suite left a replica there): one replica per host.
    await deployThroughUi(page, {
      formfile:
        "NAME terminal-across-hosts\nUSER username:webdev passwd:webpass123 sudo:true\nVCPU 1\nMEM 512\n",
      replicas: platform.nodes,
    });
    await expect
      .poll(async () => (await myInstances(page)).find((i) => i.nodeId === node3 && i.status === "running"), {
        timeout: 900_000,
      })
      .toBeTruthy();
    target = (await myInstances(page)).find((i) => i.nodeId === node3 && i.status === "running");
  }
  const instanceId = target?.instanceId ?? "";
  const iface = await consoleMemberInterface(platform.dataDir);
  const node3Key = host3?.formnet.publicKey ?? "";
  const before = await transferWith(iface, node3Key);

  await page.goto(`/instances/${instanceId}`);
  await expect(page.getByTestId("terminal")).toHaveAttribute("data-state", "connected", { timeout: 120_000 });
  await page.getByTestId("terminal-screen").click();
  await page.keyboard.type("echo host=$(hostname)");
  await page.keyboard.press("Enter");
  await expect
    .poll(() => page.evaluate((id) => window.formationTerminals?.[id]?.text() ?? "", instanceId), {
      timeout: 60_000,
    })
    .toMatch(new RegExp(`^host=${instanceId}\\s*$`, "m"));
  await screenshot(page, testInfo, "terminal-node-3");
  // The session's bytes went through the console's WireGuard peer of node host 3.
  expect(await transferWith(iface, node3Key)).toBeGreaterThan(before + 1_000);
});
