import { execFileSync } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { packContext } from "@/core/context";
import { agentContextPath, agentImagePath, ZDigest, ZJobResult } from "@/lib/protocol";
import { startTestPlatform, type TTestPlatform, testFormfile } from "@/server/testing/platform";
import { readStatusFile } from "./config/status-file";
import { writeTestAgentConfig } from "./testing/agent-config";
import { cleanAgentHost } from "./testing/host-cleanup";
import { startAgentProcess, type TAgentProcess } from "./testing/start-agent-process";

/**
 * The whole agent side of a deployment with nothing faked: the real daemon, the real console's job
 * queue and blob store, a real image build (cached Debian base, Formfile applied in a chroot), the
 * image uploaded and fetched back by digest, a real QEMU VM (TCG here) at its formnet address,
 * sshd answering on it, then delete. Minutes on a 2-core host; needs root and the host packages.
 */
const privateKey = generatePrivateKey();
const account = privateKeyToAccount(privateKey);
const password = "vm-e2e-password";
let platform: TTestPlatform;
let dataDir: string;
let agent: TAgentProcess | undefined;
let formnetIface: string | undefined;

beforeAll(async () => {
  platform = await startTestPlatform({
    operators: [account.address],
    config: { heartbeatIntervalMs: 1_000, offlineAfterMs: 15_000, leaseMs: 30_000, ackTimeoutMs: 5_000 },
  });
  dataDir = await mkdtemp(join(tmpdir(), "node-agent-vm-"));
  const { configPath } = await writeTestAgentConfig({
    dataDir,
    consoleUrl: platform.url,
    privateKey,
    password,
    overrides: { jobs: { maxConcurrent: 1, shutdownGraceMs: 5_000, sshReadyTimeoutMs: 300_000 } },
  });
  agent = await startAgentProcess({ configPath, password, env: { LOG_LEVEL: "info" } });
  const up = await agent.waitForLog((l) => l.msg === "formnet interface up", 30_000);
  formnetIface = typeof up.iface === "string" ? up.iface : undefined;
});

afterAll(async () => {
  await agent?.stop(20_000);
  if (dataDir) {
    // The agent leaves VMs and formnet running on purpose (they are adopted on restart); a test
    // must not, so delete whatever a failed assertion left behind through the real hypervisor.
    await cleanAgentHost({ dataDir, interfaces: [formnetIface] });
    await rm(dataDir, { recursive: true, force: true });
  }
  await platform?.close();
});

async function waitForJob(jobId: string, timeoutMs: number) {
  await expect
    .poll(async () => (await platform.repos.jobs.find(jobId))?.state, {
      timeout: timeoutMs,
      interval: 500,
    })
    .toMatch(/^(done|failed|cancelled)$/);
  const job = await platform.repos.jobs.find(jobId);
  if (job?.state !== "done") throw new Error(`job ${jobId} ended ${job?.state}: ${job?.error ?? ""}`);
  return ZJobResult.parse(JSON.parse(job.result ?? "null"));
}

function sshBanner(host: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port: 22 });
    // sshd under TCG on a loaded host can take several seconds to fork and greet.
    socket.setTimeout(60_000, () => socket.destroy(new Error("timeout")));
    socket.once("data", (data) => {
      socket.destroy();
      resolve(data.toString("latin1").trim());
    });
    socket.once("error", reject);
  });
}

describe("node-agent build → boot → SSH against the real console", () => {
  it("builds an image, boots it at its formnet IP, answers SSH, and deletes it", async () => {
    await expect
      .poll(async () => (await readStatusFile(join(dataDir, "status.json")))?.nodeId, { timeout: 30_000 })
      .toBeTruthy();
    const nodeId = (await readStatusFile(join(dataDir, "status.json")))?.nodeId ?? "";
    const contextDir = await mkdtemp(join(tmpdir(), "ctx-"));
    await writeFile(join(contextDir, "hello.txt"), "hello from the e2e context\n");
    const formfile = testFormfile("agent-e2e");
    const packed = await packContext({ dir: contextDir, formfile });
    await rm(contextDir, { recursive: true, force: true });
    const blob = await platform.services.blobs.putBytes({ bytes: packed.tarGz });
    const contextDigest = ZDigest.parse(blob.digest);

    const build = await platform.services.jobs.enqueue({
      kind: "build",
      payload: {
        buildId: "e2e-build",
        formfile,
        contextUrl: agentContextPath(contextDigest),
        contextDigest,
        contextSizeBytes: blob.size,
      },
      nodeId,
      idempotencyKey: `e2e-build-${nodeId}`,
      buildId: "e2e-build",
    });
    const built = await waitForJob(build.id, 900_000);
    if (built.kind !== "build") throw new Error(`unexpected result ${built.kind}`);
    expect(await platform.services.blobs.size(built.imageDigest)).toBe(built.sizeBytes);

    const instanceId = "e2e-instance";
    const formnetIp = await platform.services.formnet.allocate({ kind: "instance", ref: instanceId });
    const boot = await platform.services.jobs.enqueue({
      kind: "boot",
      payload: {
        instanceId,
        buildId: "e2e-build",
        imageUrl: agentImagePath(built.imageDigest),
        imageDigest: built.imageDigest,
        vcpu: 1,
        memoryMb: 512,
        diskGb: 5,
        formnetIp,
        ownerPeers: [],
      },
      nodeId,
      idempotencyKey: `e2e-boot-${instanceId}`,
      instanceId,
    });
    expect(await waitForJob(boot.id, 600_000)).toEqual({ kind: "boot", formnetIp });
    expect(await sshBanner(formnetIp)).toMatch(/^SSH-2\.0-/);

    const del = await platform.services.jobs.enqueue({
      kind: "delete",
      payload: { instanceId },
      nodeId,
      idempotencyKey: `e2e-delete-${instanceId}`,
      instanceId,
    });
    await waitForJob(del.id, 120_000);
    await expect
      .poll(async () => (await readStatusFile(join(dataDir, "status.json")))?.instances.length)
      .toBe(0);
  });

  it("cancelling a build stops its build VM (and with it every process of the RUN step) and reports it", async () => {
    const nodeId = (await readStatusFile(join(dataDir, "status.json")))?.nodeId ?? "";
    const contextDir = await mkdtemp(join(tmpdir(), "ctx-"));
    const marker = `cancel-me-${Date.now()}`;
    const formfile = {
      ...testFormfile("agent-cancel"),
      steps: [{ kind: "run" as const, command: `echo ${marker} && sleep 477`, line: 3 }],
    };
    const packed = await packContext({ dir: contextDir, formfile });
    await rm(contextDir, { recursive: true, force: true });
    const blob = await platform.services.blobs.putBytes({ bytes: packed.tarGz });
    const contextDigest = ZDigest.parse(blob.digest);
    const logged: string[] = [];
    platform.services.jobs.onEvent(async (e) => {
      if (e.type === "log" && e.job.buildId === "e2e-cancel") logged.push(...e.lines);
    });
    const job = await platform.services.jobs.enqueue({
      kind: "build",
      payload: {
        buildId: "e2e-cancel",
        formfile,
        contextUrl: agentContextPath(contextDigest),
        contextDigest,
        contextSizeBytes: blob.size,
      },
      nodeId,
      idempotencyKey: `e2e-cancel-${nodeId}`,
      buildId: "e2e-cancel",
    });
    // The step runs inside the build VM: its output reaching the console says it is running.
    await expect
      .poll(() => logged.some((l) => l.includes(marker)), { timeout: 300_000, interval: 500 })
      .toBe(true);
    // The build VM's QEMU (its drives live in the build's work directory), by its pid.
    const buildVm = () =>
      execFileSync("ps", ["-eo", "pid,args"], { encoding: "utf8" })
        .split("\n")
        .filter((l) => l.includes("formation-build") && l.includes("/work/e2e-cancel-"))
        .map((l) => l.trim().split(/\s+/)[0])
        .join(",");
    expect(buildVm()).not.toBe("");
    await platform.services.jobs.cancel(job.id, "user pressed cancel");
    const line = await agent?.waitForLog(
      (l) => l.msg === "job did not complete" && l.jobId === job.id,
      30_000,
    );
    expect(line).toMatchObject({ state: "cancelled", reason: "user pressed cancel" });
    await expect.poll(buildVm, { timeout: 30_000 }).toBe("");
    expect((await platform.repos.jobs.find(job.id))?.state).toBe("cancelled");
  });
});
