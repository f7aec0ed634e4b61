import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SerialLogError } from "@/server/gateway/serial-log";
import { callTrpc, siweSignIn } from "@/server/http/testing";
import { startTestPlatform, type TTestPlatform } from "@/server/testing/platform";
import { readStatusFile } from "../config/status-file";
import { ZVmState } from "../hypervisor/types";
import { writeTestAgentConfig } from "../testing/agent-config";
import { startAgentProcess, type TAgentProcess } from "../testing/start-agent-process";

/**
 * The serial-log request path end to end with the REAL daemon (`node-agent/bin.mjs run`) against
 * the real in-process console: console → agent socket → the agent's hypervisor record → the log
 * file → reply → `serial.tail`. The VM is a stopped one on record (its state file and serial log
 * as QEMU leaves them), so no guest has to boot; the VM e2e covers a live guest's log.
 */
const privateKey = generatePrivateKey();
const operator = privateKeyToAccount(privateKey);
const owner = privateKeyToAccount(generatePrivateKey());
const password = "serial-log-test-password";
const instanceId = `i-${randomBytes(10).toString("hex")}`;
const BOOT_LOG =
  "[    0.000000] Linux version 6.1.0-cloud-amd64\r\n\u001b[0;32m  OK  \u001b[0m] Reached target ssh\r\nweb login: ";
let platform: TTestPlatform;
let dataDir: string;
let configPath: string;
let agent: TAgentProcess | undefined;

beforeAll(async () => {
  // Nothing here tests offline detection: on a loaded 2-core CI host (VMs under TCG in parallel)
  // the test timings' 2 s would mark the node offline between two starved heartbeats, and the
  // console then answers serial.tail with "node offline".
  platform = await startTestPlatform({ operators: [operator.address], config: { offlineAfterMs: 60_000 } });
  dataDir = await mkdtemp(join(tmpdir(), "serial-log-it-"));
  ({ configPath } = await writeTestAgentConfig({
    dataDir,
    consoleUrl: platform.url,
    privateKey,
    password,
    formnetEnabled: false,
  }));
});

afterAll(async () => {
  await agent?.stop(10_000);
  await platform?.close();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

/** A VM the agent has on record (stopped), with the serial log QEMU wrote while it ran. */
async function writeStoppedVm(): Promise<void> {
  const dir = join(dataDir, "vms", instanceId);
  await mkdir(dir, { recursive: true });
  const state = ZVmState.parse({
    spec: {
      instanceId,
      imagePath: join(dataDir, "images", "none.qcow2"),
      vcpu: 1,
      memoryMb: 512,
      diskGb: 5,
      ipv4: "10.42.200.9",
      network: { bridge: "fmbr-serialtest", gatewayIp: "169.254.0.1" },
      restartPolicy: "never",
    },
    status: "stopped",
    pid: null,
    tap: "fmtap-serialt",
    mac: "52:54:00:12:34:56",
    dir,
    overlayPath: join(dir, "overlay.qcow2"),
    serialLogPath: join(dir, "serial.log"),
    qmpPath: join(dir, "qmp.sock"),
    pidfilePath: join(dir, "qemu.pid"),
    hostKeyPath: join(dir, "ssh_host_ed25519_key"),
    hostKeyPublic: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTests test",
    startedAt: null,
  });
  await writeFile(join(dir, "state.json"), JSON.stringify(state));
  await writeFile(state.serialLogPath, BOOT_LOG);
}

describe("serial log through the real node agent", () => {
  it("reads the hosted VM's log over the agent socket; an unknown instance is notOnNode", async () => {
    // First run: learn the node id (derived from operator and WireGuard key, stable across runs).
    agent = await startAgentProcess({ configPath, password });
    await expect.poll(async () => (await readStatusFile(join(dataDir, "status.json")))?.nodeId).toBeTruthy();
    const nodeId = (await readStatusFile(join(dataDir, "status.json")))?.nodeId ?? "";
    expect(await agent.stop()).toBe(0);
    agent = undefined;

    // The console expects the instance on that node, so re-adoption keeps it (no delete job).
    await platform.repos.instances.create({
      id: instanceId,
      deploymentId: "d-serial",
      buildId: "b-serial",
      owner: owner.address.toLowerCase(),
      nodeId,
      status: "stopped",
      desired: "stopped",
      formnetIp: null,
      imageDigest: `sha256:${"b".repeat(64)}`,
      vcpu: 1,
      memoryMb: 512,
      diskGb: 5,
    });
    await writeStoppedVm();
    agent = await startAgentProcess({ configPath, password });
    await expect.poll(() => platform.services.agents.has(nodeId), { timeout: 20_000 }).toBe(true);

    const serial = platform.services.serial.requests;
    const tail = await serial.request({ nodeId, instanceId, maxBytes: 10 });
    expect(tail).toEqual({
      data: "eb login: ",
      offset: BOOT_LOG.length - 10,
      end: BOOT_LOG.length,
      size: BOOT_LOG.length,
    });
    const whole = await serial.request({ nodeId, instanceId, maxBytes: 4096, offset: 0 });
    expect(whole.data).toBe(BOOT_LOG);

    const unknown = await serial.request({ nodeId, instanceId: "i-00000000000000000000", maxBytes: 10 }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(unknown).toBeInstanceOf(SerialLogError);
    expect((unknown as SerialLogError).code).toBe("notOnNode");
    // Path-like ids never reach the agent: the console's schema refuses to send them.
    await expect(serial.request({ nodeId, instanceId: "../../etc", maxBytes: 10 })).rejects.toThrow(
      /not a valid instance id/,
    );

    // The same through the API, as the owner's browser calls it.
    const { cookie } = await siweSignIn({ url: platform.url, account: owner });
    const res = await callTrpc({
      url: platform.url,
      path: "serial.tail",
      type: "query",
      input: { instanceId, maxBytes: 4096 },
      headers: { cookie },
    });
    expect(res.ok).toBe(true);
    expect(res.data).toMatchObject({ instanceId, nodeId, data: BOOT_LOG });
    expect(agent.lines.some((l) => l.msg === "cannot read serial log")).toBe(false);
  });
});
