import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { networkInterfaces, tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseFormfile } from "@/lib/formfile";
import type { TFormfile } from "@/lib/formfile/canonical";
import { run } from "../../host/exec";
import { VM_USER } from "../../host/vm-user";
import { buildImage } from "../build";
import { ImageBuildError } from "../errors";

/**
 * Hostile Formfiles against the real builder: each tries to reach or hurt the operator's host from
 * a RUN step, and the test checks on the host that nothing happened. Nonces keep the builds out of
 * the image cache, so every run really runs them.
 */
function parse(lines: string[]): TFormfile {
  const r = parseFormfile(["NAME hostile", "USER username:dev passwd:pw", ...lines].join("\n"));
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.formfile;
}

const nonce = () => randomBytes(6).toString("hex");

function hostAddresses(): string[] {
  return Object.values(networkInterfaces())
    .flat()
    .filter((a) => a !== undefined && a.family === "IPv4")
    .map((a) => a?.address ?? "");
}

/** This file's build VMs still running (other test files may run build VMs meanwhile). */
async function buildVmProcesses(): Promise<string[]> {
  return (await run(["ps", "-eo", "pid,args"])).stdout
    .split("\n")
    .filter((l) => l.includes("formation-build") && l.includes("/work/hostile-"));
}

describe("hostile Formfiles cannot reach the build host", () => {
  let work: string;
  let ctx: string;
  let listener: Server;
  let port: number;
  const connections: string[] = [];

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), "fm-hostile-"));
    ctx = join(work, "ctx");
    await mkdir(ctx, { recursive: true });
    await writeFile(join(ctx, "app.txt"), "app\n");
    // Stands in for the console, the chain RPC and anything else listening on the host.
    listener = createServer((s) => {
      connections.push(String(s.remoteAddress));
      s.destroy();
    });
    await new Promise<void>((r) => listener.listen(0, "0.0.0.0", () => r()));
    const addr = listener.address();
    port = typeof addr === "object" && addr !== null ? addr.port : 0;
  });

  afterAll(async () => {
    await new Promise<void>((r) => listener.close(() => r()));
    if (work) await rm(work, { recursive: true, force: true });
  });

  async function build(
    id: string,
    formfile: TFormfile,
    extra: Partial<Parameters<typeof buildImage>[0]> = {},
  ) {
    const logs: string[] = [];
    const result = await buildImage({
      formfile,
      contextDir: ctx,
      buildId: id,
      onLog: (l) => logs.push(l),
      ...extra,
    }).catch((e: unknown) => e);
    return { result, logs: logs.join("\n") };
  }

  it("no host address, no host port, no other destination; the proxy refuses what is not a mirror", async () => {
    const targets = ["127.0.0.1", "10.0.2.2", "10.0.2.3", ...hostAddresses()].map((h) => `${h}/${port}`);
    const marker = `/etc/fm-hostile-${nonce()}`;
    const formfile = parse([
      // Every reach attempt must fail (bash's /dev/tcp, 3 s each); REACHED fails the build.
      `RUN for t in ${targets.join(" ")}; do if timeout 3 bash -c "echo hi > /dev/tcp/$t" 2>/dev/null; then echo "REACHED $t"; exit 1; fi; done; echo no-route-ok`,
      // Through the proxy: the host's own services are refused, not forwarded.
      `RUN bash -c 'exec 3<>/dev/tcp/10.0.2.100/3128 && printf "GET http://127.0.0.1:${port}/ HTTP/1.0\\r\\n\\r\\n" >&3 && head -n1 <&3' | grep -q ' 403 ' && echo proxy-refused-ok`,
      // Root in the VM writes "host" paths: they are the image's, never the host's.
      `RUN echo pwned > ${marker} && id -u && cat /proc/1/cmdline | tr '\\0' ' '; echo`,
    ]);
    // A build limit well inside the test's timeout: should a step ever stall (ci58: this build never
    // ended), the builder stops its VM and the build log says where, instead of a timed-out test
    // leaving the VM behind for the next ones.
    const { result, logs } = await build(`hostile-net-${nonce()}`, formfile, {
      limits: { timeoutMs: 240_000 },
    });
    expect(result, logs).not.toBeInstanceOf(Error);
    expect(logs).toContain("no-route-ok");
    expect(logs).toContain("proxy-refused-ok");
    expect(logs).toMatch(
      new RegExp(`build egress refused: 127\\.0\\.0\\.1:${port} is not an allowed mirror`),
    );
    expect(connections).toEqual([]);
    expect(existsSync(marker)).toBe(false);
    expect(await buildVmProcesses()).toEqual([]);
  });

  it("QEMU runs unprivileged, without capabilities, under seccomp, in an empty network namespace", async () => {
    const ac = new AbortController();
    let seen: Record<string, string> | null = null;
    const formfile = parse([`RUN echo waiting-${nonce()} && sleep 600`]);
    const p = build(`hostile-priv-${nonce()}`, formfile, {
      signal: ac.signal,
      onLog: (l) => {
        if (!l.includes("waiting-") || seen !== null) return;
        seen = {};
        void (async () => {
          const [line] = await buildVmProcesses();
          const pid = line?.trim().split(/\s+/)[0] ?? "";
          const status = await readFile(`/proc/${pid}/status`, "utf8");
          for (const k of ["Uid", "CapEff", "CapPrm", "CapBnd", "NoNewPrivs", "Seccomp"]) {
            seen = { ...seen, [k]: new RegExp(`^${k}:\\s+(.*)$`, "m").exec(status)?.[1] ?? "" };
          }
          const ns = (await run(["readlink", `/proc/${pid}/ns/net`])).stdout.trim();
          const ours = (await run(["readlink", "/proc/self/ns/net"])).stdout.trim();
          seen = { ...seen, sameNetns: String(ns === ours) };
          const links = (await run(["nsenter", "-t", pid, "-n", "ip", "-o", "link"])).stdout;
          seen = { ...seen, links: links.split("\n").filter(Boolean).length.toString() };
          const cgroup = await readFile(`/proc/${pid}/cgroup`, "utf8");
          seen = { ...seen, cgroup: String(/\/formation-vms\/fmbuild-/.test(cgroup)) };
          ac.abort();
        })();
      },
    });
    const { result } = await p;
    expect(result).toMatchObject({ code: "CANCELLED" });
    const uid = (await run(["id", "-u", VM_USER])).stdout.trim();
    expect(seen).toMatchObject({
      Uid: `${uid}\t${uid}\t${uid}\t${uid}`,
      CapEff: "0000000000000000",
      CapPrm: "0000000000000000",
      CapBnd: "0000000000000000",
      NoNewPrivs: "1",
      Seccomp: "2",
      sameNetns: "false",
      links: "1", // its own loopback only
      cgroup: "true", // CPU, memory, pids and disk limits of its own
    });
    expect(await buildVmProcesses()).toEqual([]);
  });

  it("signals, module loading and mounts stay inside the build VM: a host process and the host kernel are untouched", async () => {
    const sleeper = spawn("sleep", ["600"], { stdio: "ignore" });
    // The host's loaded modules (/sys/module: /proc/modules is absent on some kernels).
    const modules = async () => (await readdir("/sys/module")).sort().join(" ");
    const before = await modules();
    try {
      const formfile = parse([
        `RUN echo ${nonce()}; kill -9 ${sleeper.pid} 2>&1; echo kill-rc=$?; modprobe dummy 2>&1; echo modprobe-rc=$?; mount -t tmpfs none /mnt && echo mounted; umount /mnt; exit 0`,
      ]);
      const { result, logs } = await build(`hostile-kill-${nonce()}`, formfile);
      expect(result).toMatchObject({ fromCache: false });
      expect(logs).toMatch(/kill-rc=1/); // no such process in the VM
      expect(logs).toMatch(/modprobe-rc=[1-9]/);
      expect(logs).toContain("mounted"); // root of the VM may mount: inside the VM
      expect(sleeper.exitCode).toBeNull();
      expect(sleeper.signalCode).toBeNull();
      expect(await modules()).toBe(before);
    } finally {
      sleeper.kill("SIGKILL");
    }
  });

  it("a fork bomb hits the time limit, is stopped with a clear error, and the host goes on", async () => {
    const formfile = parse([`RUN echo ${nonce()}; b() { b | b & }; b; sleep 600`]);
    const { result } = await build(`hostile-bomb-${nonce()}`, formfile, { limits: { timeoutMs: 30_000 } });
    expect(result).toBeInstanceOf(ImageBuildError);
    expect(result).toMatchObject({ code: "LIMIT_EXCEEDED", line: 3 });
    expect(String((result as ImageBuildError).message)).toMatch(
      /build stopped: it exceeded its time limit of 30 s during Formfile:3: RUN/,
    );
    expect(await buildVmProcesses()).toEqual([]);
  });

  it("memory exhaustion is the step's failure, with the VM's memory in the message", async () => {
    const formfile = parse([`RUN echo ${nonce()}; head -c 3000M /dev/zero | tail > /dev/null`]);
    const { result } = await build(`hostile-oom-${nonce()}`, formfile);
    expect(result).toMatchObject({ code: "STEP_FAILED", line: 3, exitCode: 137 });
    expect(String((result as ImageBuildError).message)).toContain("out of memory? the build VM has 1024 MiB");
  });

  it("a step that powers the build VM off fails as that step", async () => {
    const formfile = parse([`RUN echo ${nonce()}; echo o > /proc/sysrq-trigger; sleep 60`]);
    const { result } = await build(`hostile-off-${nonce()}`, formfile);
    expect(result).toMatchObject({ code: "STEP_FAILED", line: 3 });
    expect(String((result as ImageBuildError).message)).toContain("stopped the build VM before it finished");
    expect(await buildVmProcesses()).toEqual([]);
  });
});
