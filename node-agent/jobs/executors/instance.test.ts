import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createLogger } from "@/core/log";
import type { TBootPayload } from "@/lib/protocol";
import { dataPaths, imagePathFor, type TDataPaths } from "../../config/paths";
import { run } from "../../host/exec";
import type { Hypervisor, TVmInfo, TVmMetrics, TVmSpecInput } from "../../hypervisor/types";
import { JobFailure } from "../job-error";
import type { TJobContext } from "../types";
import { bootExecutor, lifecycleExecutors, prefetchExecutor, type TInstanceExecutorDeps } from "./instance";

const digest = `sha256:${"d".repeat(64)}`;

/** In-memory hypervisor double: records calls; `start` can be made to write a serial log. */
class TestHypervisor implements Hypervisor {
  readonly calls: string[] = [];
  readonly vms = new Map<string, TVmInfo & { spec: TVmSpecInput }>();
  constructor(private readonly dir: string) {}
  async create(spec: TVmSpecInput): Promise<TVmInfo> {
    this.calls.push(`create ${spec.instanceId} ${spec.ipv4}`);
    const vm = {
      instanceId: spec.instanceId,
      status: "created" as const,
      pid: null,
      ipv4: spec.ipv4,
      tap: "tap0",
      serialLogPath: join(this.dir, `${spec.instanceId}.serial`),
      startedAt: null,
      sshHostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAItest",
      spec,
    };
    this.vms.set(spec.instanceId, vm);
    return vm;
  }
  /** Starts a created or stopped VM; resumes a suspended one (same call, as QemuHypervisor). */
  async start(id: string): Promise<TVmInfo> {
    this.calls.push(`${this.vms.get(id)?.status === "suspended" ? "resume" : "start"} ${id}`);
    return this.#set(id, "running");
  }
  async stop(id: string, opts: { suspend?: boolean } = {}): Promise<TVmInfo> {
    this.calls.push(`${opts.suspend ? "suspend" : "stop"} ${id}`);
    return this.#set(id, opts.suspend ? "suspended" : "stopped");
  }
  async restart(id: string): Promise<TVmInfo> {
    this.calls.push(`restart ${id}`);
    return this.#set(id, "running");
  }
  async delete(id: string): Promise<void> {
    this.calls.push(`delete ${id}`);
    this.vms.delete(id);
  }
  async list(): Promise<TVmInfo[]> {
    return [...this.vms.values()];
  }
  async get(id: string): Promise<TVmInfo | null> {
    return this.vms.get(id) ?? null;
  }
  async adopt() {
    return { adopted: [], cleaned: [] };
  }
  async metrics(id: string): Promise<TVmMetrics> {
    throw new Error(`no metrics for ${id}`);
  }
  close(): void {}
  #set(id: string, status: TVmInfo["status"]): TVmInfo {
    const vm = this.vms.get(id);
    if (!vm) throw new Error(`no VM ${id}`);
    vm.status = status;
    return vm;
  }
}

function context() {
  const statuses: string[] = [];
  const phases: string[] = [];
  /** Each progress report with its message: `phase: message`. */
  const reports: string[] = [];
  const lines: string[] = [];
  const ctx: TJobContext = {
    jobId: "job-1",
    signal: new AbortController().signal,
    logger: createLogger("test"),
    progress: (phase, message) => {
      phases.push(phase);
      reports.push(message === undefined ? phase : `${phase}: ${message}`);
    },
    log: (line) => lines.push(line),
    instanceStatus: (r) => statuses.push(r.status),
  };
  return { ctx, statuses, phases, reports, lines };
}

let dir: string;
let paths: TDataPaths;
let hypervisor: TestHypervisor;
let sshd: Server | undefined;
let access: string[];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "exec-"));
  paths = dataPaths(dir);
  hypervisor = new TestHypervisor(dir);
  access = [];
  // The image (a self-contained qcow2: its header is checked) is already in the store, so the boot
  // needs no download.
  await mkdir(paths.images, { recursive: true });
  await run(["qemu-img", "create", "-q", "-f", "qcow2", imagePathFor(paths, digest), "1M"]);
});
afterEach(async () => {
  await new Promise<void>((resolve) => (sshd ? sshd.close(() => resolve()) : resolve()));
  sshd = undefined;
  await rm(dir, { recursive: true, force: true });
});

/** A local listener that greets like sshd (or like something else). */
async function listen(greeting: string): Promise<number> {
  sshd = createServer((socket) => socket.end(greeting));
  await new Promise<void>((resolve) => sshd?.listen(0, "127.0.0.1", () => resolve()));
  const address = sshd.address();
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}

function deps(sshPort: number, timeoutMs = 5_000): TInstanceExecutorDeps {
  return {
    paths,
    consoleUrl: "http://127.0.0.1:1",
    token: async () => "token",
    hypervisor,
    network: { bridge: "fmbr-test", gatewayIp: "169.254.42.1" },
    sshReadyTimeoutMs: timeoutMs,
    sshPort,
    access: {
      apply: async (o) => access.push(`apply ${o.vmIp} ${o.allowedSources.join(",")}`),
      remove: async (o) => {
        access.push(`remove ${o.vmIp}`);
      },
    },
  };
}

const payload: TBootPayload = {
  instanceId: "i-1",
  buildId: "b-1",
  imageUrl: `/api/agent/images/${digest}`,
  imageDigest: digest,
  vcpu: 1,
  memoryMb: 512,
  diskGb: 5,
  formnetIp: "127.0.0.1",
  ownerPeers: [
    { publicKey: `${"U".repeat(42)}E=`, ip: "10.42.0.9", endpoints: [], kind: "user", ref: "0xowner" },
  ],
};

describe("boot executor", () => {
  it("creates and starts the VM at its formnet IP, admits the owner and waits for sshd", async () => {
    const { ctx, statuses, phases } = context();
    const result = await bootExecutor(deps(await listen("SSH-2.0-OpenSSH_9.2\r\n")))(ctx, payload);
    expect(result).toEqual({ kind: "boot", formnetIp: "127.0.0.1" });
    expect(hypervisor.calls).toEqual(["create i-1 127.0.0.1", "start i-1"]);
    expect(hypervisor.vms.get("i-1")?.spec.network).toEqual({
      bridge: "fmbr-test",
      gatewayIp: "169.254.42.1",
    });
    expect(access).toEqual(["apply 127.0.0.1 10.42.0.9"]);
    expect(phases).toEqual(["fetching", "booting"]);
    expect(statuses).toEqual(["booting", "running"]);
  });

  it("resumes an existing VM instead of creating a duplicate", async () => {
    await hypervisor.create({ ...payload, imagePath: "x", ipv4: "127.0.0.1", network: deps(0).network });
    hypervisor.calls.length = 0;
    await bootExecutor(deps(await listen("SSH-2.0-x\n")))(context().ctx, payload);
    expect(hypervisor.calls).toEqual(["start i-1"]);
  });

  it("stops a VM whose sshd never answers and reports the serial console tail", async () => {
    await writeFile(join(dir, "i-1.serial"), "[    1.0] Kernel panic - not syncing\n");
    const { ctx, statuses } = context();
    const run = bootExecutor(deps(await listen("HTTP/1.1 400 Bad Request\r\n"), 1_500))(ctx, payload);
    const error = await run.catch((e: unknown) => e);
    if (!(error instanceof JobFailure)) throw new Error(`expected a JobFailure, got ${String(error)}`);
    expect(error.message).toContain("Kernel panic");
    expect(String(error.cause)).toContain("not an SSH banner");
    expect(hypervisor.calls).toContain("stop i-1");
    expect(statuses).toEqual(["booting", "failed"]);
  });
});

describe("prefetch executor", () => {
  const prefetch = { imageUrl: `/api/agent/images/${digest}`, imageDigest: digest };

  it("with the replica's shape, also makes the image's snapshot (a heal there restores)", async () => {
    const shapes: string[] = [];
    const snapshotting = Object.assign(hypervisor, {
      prepareSnapshot: async (o: { imagePath: string; vcpu: number; memoryMb: number; diskGb: number }) => {
        shapes.push(`${o.imagePath} ${o.vcpu} ${o.memoryMb} ${o.diskGb}`);
        return { key: "k1" };
      },
    });
    const { ctx, phases, lines } = context();
    const result = await prefetchExecutor({ ...deps(1), hypervisor: snapshotting })(ctx, {
      ...prefetch,
      vm: { vcpu: 1, memoryMb: 512, diskGb: 5 },
    });
    expect(result).toMatchObject({ kind: "prefetch", fromCache: true, snapshot: true });
    expect(shapes).toEqual([`${imagePathFor(paths, digest)} 1 512 5`]);
    expect(phases).toContain("snapshotting");
    expect(lines.join("\n")).toContain("snapshot k1");
  });

  it("without a shape (an older console) or a snapshot failure, the image is still prefetched", async () => {
    const failing = Object.assign(hypervisor, {
      prepareSnapshot: async () => {
        throw new Error("template did not boot");
      },
    });
    const { ctx, lines } = context();
    const plain = await prefetchExecutor({ ...deps(1), hypervisor: failing })(ctx, prefetch);
    expect(plain).not.toHaveProperty("snapshot");
    const failed = await prefetchExecutor({ ...deps(1), hypervisor: failing })(ctx, {
      ...prefetch,
      vm: { vcpu: 1, memoryMb: 512, diskGb: 5 },
    });
    expect(failed).toMatchObject({ kind: "prefetch", snapshot: false });
    expect(lines.join("\n")).toContain("no snapshot of the image: template did not boot");
  });
});

describe("lifecycle executors", () => {
  it("stops, restarts and deletes, and deleting a missing instance still succeeds", async () => {
    const port = await listen("SSH-2.0-x\n");
    const exec = lifecycleExecutors(deps(port));
    await hypervisor.create({ ...payload, imagePath: "x", ipv4: "127.0.0.1", network: deps(0).network });
    const { ctx, statuses } = context();
    expect(await exec.stop(ctx, { instanceId: "i-1" })).toEqual({ kind: "stop" });
    expect(await exec.restart(ctx, { instanceId: "i-1" })).toEqual({ kind: "restart" });
    expect(await exec.delete(ctx, { instanceId: "i-1" })).toEqual({ kind: "delete" });
    expect(await exec.delete(ctx, { instanceId: "i-1" })).toEqual({ kind: "delete" });
    expect(statuses).toEqual(["stopping", "stopped", "booting", "running", "deleted", "deleted"]);
    expect(access).toEqual(["remove 127.0.0.1"]);
    await expect(exec.start(ctx, { instanceId: "nope" })).rejects.toThrow(/does not exist/);
  });

  it("suspends a running VM (memory saved, status suspended) and a start resumes it", async () => {
    const exec = lifecycleExecutors(deps(await listen("SSH-2.0-x\n")));
    await hypervisor.create({ ...payload, imagePath: "x", ipv4: "127.0.0.1", network: deps(0).network });
    await hypervisor.start("i-1");
    hypervisor.calls.length = 0;

    const suspend = context();
    expect(await exec.stop(suspend.ctx, { instanceId: "i-1", suspend: true })).toEqual({
      kind: "stop",
      suspended: true,
    });
    expect(hypervisor.calls).toEqual(["suspend i-1"]);
    expect((await hypervisor.get("i-1"))?.status).toBe("suspended");
    expect(suspend.statuses).toEqual(["stopping", "suspended"]);
    expect(suspend.reports).toEqual(["stopping: suspend: saving the guest's memory"]);
    expect(suspend.lines.join("\n")).toMatch(/saving its memory/);

    // A retried suspend (the console missed the result) finds it suspended and changes nothing.
    const again = context();
    expect(await exec.stop(again.ctx, { instanceId: "i-1", suspend: true })).toEqual({
      kind: "stop",
      suspended: true,
    });
    expect(hypervisor.calls).toEqual(["suspend i-1"]);
    expect(again.statuses).toEqual(["suspended"]);

    const resume = context();
    expect(await exec.start(resume.ctx, { instanceId: "i-1" })).toEqual({ kind: "start" });
    expect(hypervisor.calls).toEqual(["suspend i-1", "resume i-1"]);
    expect((await hypervisor.get("i-1"))?.status).toBe("running");
    expect(resume.reports).toEqual(["starting: resuming from saved memory"]);
    expect(resume.lines.join("\n")).toMatch(/resuming VM i-1 from its saved memory/);
    expect(resume.statuses).toEqual(["running"]);

    // A plain stop is still a guest shutdown, and its start is a boot.
    const plain = context();
    expect(await exec.stop(plain.ctx, { instanceId: "i-1" })).toEqual({ kind: "stop" });
    expect(await exec.start(plain.ctx, { instanceId: "i-1" })).toEqual({ kind: "start" });
    expect(hypervisor.calls.slice(2)).toEqual(["stop i-1", "start i-1"]);
    expect(plain.statuses).toEqual(["stopping", "stopped", "running"]);
    expect(plain.reports).toEqual(["stopping", "starting"]);
  });

  it("refuses to suspend a VM that is not running: it has no memory to keep", async () => {
    const exec = lifecycleExecutors(deps(0));
    await hypervisor.create({ ...payload, imagePath: "x", ipv4: "127.0.0.1", network: deps(0).network });
    await hypervisor.stop("i-1");
    hypervisor.calls.length = 0;
    const { ctx, statuses } = context();
    await expect(exec.stop(ctx, { instanceId: "i-1", suspend: true })).rejects.toThrow(
      /is stopped, not running: there is no guest memory to save/,
    );
    expect(hypervisor.calls).toEqual([]);
    expect(statuses).toEqual([]);
  });
});
