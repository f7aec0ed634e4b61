import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestPlatform, type TTestPlatform } from "@/server/testing/platform";
import { readStatusFile } from "./config/status-file";
import { ensureBridge, linkExists } from "./host/net";
import { defaultNetwork } from "./hypervisor/qemu";
import { writeTestAgentConfig } from "./testing/agent-config";
import { startAgentProcess, type TAgentProcess } from "./testing/start-agent-process";

/**
 * The real daemon (`node-agent/bin.mjs run`, as an operator runs it) against the real in-process
 * console: preflight, signed admission, formnet interface via wireguard-go, heartbeats, a job
 * round trip through the control plane, graceful stop, and re-admission as the same node.
 */
const privateKey = generatePrivateKey();
const account = privateKeyToAccount(privateKey);
const password = "integration-test-password";
let platform: TTestPlatform;
let dataDir: string;
let configPath: string;
let agent: TAgentProcess | undefined;
const interfaces = new Set<string>();

beforeAll(async () => {
  platform = await startTestPlatform({ operators: [account.address] });
  dataDir = await mkdtemp(join(tmpdir(), "node-agent-it-"));
  ({ configPath } = await writeTestAgentConfig({ dataDir, consoleUrl: platform.url, privateKey, password }));
});

afterAll(async () => {
  await agent?.stop(10_000);
  // After a crash the formnet interface outlives the agent (adopted on restart); tests remove it.
  for (const name of interfaces) {
    if (linkExists(name)) execFileSync("ip", ["link", "del", name], { stdio: "ignore" });
  }
  await platform?.close();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

const statusPath = () => join(dataDir, "status.json");

describe("node-agent daemon against the real console", () => {
  it("connects, brings formnet up, heartbeats, runs a job and stops gracefully", async () => {
    agent = await startAgentProcess({ configPath, password });
    await expect
      .poll(async () => (await readStatusFile(statusPath()))?.formnet.interface, { timeout: 20_000 })
      .toBeTruthy();
    const status = await readStatusFile(statusPath());
    const nodeId = status?.nodeId ?? "";
    const iface = status?.formnet.interface ?? "";
    interfaces.add(iface);
    expect(status?.formnet.address).toMatch(/^10\.42\./);
    const wg = execFileSync("wg", ["show", iface, "public-key"], { encoding: "utf8" }).trim();
    expect(wg).toBe(status?.formnet.publicKey);
    const node = await platform.repos.nodes.find(nodeId);
    expect(node).toMatchObject({ operator: account.address.toLowerCase(), status: "online" });

    await expect
      .poll(async () => (await readStatusFile(statusPath()))?.lastHeartbeatAt, { timeout: 10_000 })
      .toBeTruthy();

    // Deleting an instance this node does not have succeeds (idempotent delete) and proves the
    // offer → ack → progress → complete path through the control plane.
    const job = await platform.services.jobs.enqueue({
      kind: "delete",
      payload: { instanceId: "i-ghost" },
      nodeId,
      idempotencyKey: `delete-ghost-${nodeId}`,
      instanceId: "i-ghost",
    });
    await expect
      .poll(async () => (await platform.repos.jobs.find(job.id))?.state, { timeout: 15_000 })
      .toBe("done");
    await agent.waitForLog((l) => l.msg === "job completed" && l.jobId === job.id, 5_000);

    // The VM bridge as an earlier VM's boot left it (the bridge outlives its VMs while the agent runs).
    const { bridge, gatewayIp } = defaultNetwork(dataDir);
    interfaces.add(bridge);
    await ensureBridge({ name: bridge, gatewayIp });
    expect(await agent.stop()).toBe(0);
    expect((await readStatusFile(statusPath()))?.stopped).toBe(true);
    agent = undefined;
    // No VM runs here: a stopped agent leaves no wireguard-go holding the formnet CIDR behind, and
    // no bridge.
    expect(linkExists(iface)).toBe(false);
    expect(linkExists(bridge)).toBe(false);
  });

  it("comes back as the same node after a crash and adopts the interface it left", async () => {
    const before = await readStatusFile(statusPath());
    agent = await startAgentProcess({ configPath, password });
    await expect
      .poll(async () => (await readStatusFile(statusPath()))?.formnet.interface, { timeout: 20_000 })
      .toBeTruthy();
    const after = await readStatusFile(statusPath());
    expect(after?.nodeId).toBe(before?.nodeId);
    expect(after?.formnet.address).toBe(before?.formnet.address);
    expect(after?.formnet.publicKey).toBe(before?.formnet.publicKey);
    // A crash (SIGKILL) runs no stop: the interface survives and the next start adopts it.
    agent.child.kill("SIGKILL");
    await new Promise<void>((resolve) => agent?.child.once("exit", () => resolve()));
    // …and a build killed with it leaves its job directory (context archive, unpacked context).
    const leftover = join(dataDir, "builds", "a-build-killed-mid-way");
    await mkdir(join(leftover, "context"), { recursive: true });
    await writeFile(join(leftover, "context.tar"), "x");
    agent = await startAgentProcess({ configPath, password });
    await agent.waitForLog((l) => l.msg === "adopting running WireGuard interface", 20_000);
    await agent.waitForLog((l) => l.msg === "removed build work left by a crashed build", 20_000);
    expect(existsSync(leftover)).toBe(false);
  });
});
