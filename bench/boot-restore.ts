/**
 * Boot speed against the machine's floor, in one run (issue #25):
 *   npx tsx bench/boot-restore.ts [--rounds 3]
 * Per round, alternating so each sees the same host load: the busybox + dropbear floor; a cold
 * launch of the README example image (snapshots off); a launch of the same image restored from its
 * snapshot; and a suspend → resume of that restored VM; each until `ssh true` succeeds (as the
 * Formfile user). Also: the time to make the snapshot and its size on disk. Prints a markdown table.
 * Needs root, QEMU, the cloud kernel, dropbear-bin; the image is a builder cache hit on a warm machine.
 */
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { run } from "@/node-agent/host/exec";
import { deleteBridge } from "@/node-agent/host/guest-isolation";
import { createTap, deleteLink, ensureBridge, shortIfName } from "@/node-agent/host/net";
import { runPreflight } from "@/node-agent/host/preflight";
import { waitForSsh } from "@/node-agent/host/ssh-probe";
import { defaultNetwork, QemuHypervisor } from "@/node-agent/hypervisor";
import { qemuProcessesUnder } from "@/node-agent/hypervisor/proc";
import { type TVmSpecInput, ZVmSpec } from "@/node-agent/hypervisor/types";
import { buildImage } from "@/node-agent/image";
import { cachedSshKey, parseTestFormfile } from "@/node-agent/testing/booted-image";
import { README_EXAMPLE_SERVER_PY, readmeExampleFormfile } from "@/node-agent/testing/readme-example";
import { buildFloorInitramfs, floorArgv } from "./vm-floor";

const { values } = parseArgs({ options: { rounds: { type: "string" } } });
const ROUNDS = Number(values.rounds ?? 3);
const say = (s: string) => process.stdout.write(`${s}\n`);
const secs = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;

/** Host CPU counters (`/proc/stat`): this machine is itself a VM, and its hypervisor's steal varies. */
async function cpuTicks(): Promise<{ total: number; steal: number; busy: number }> {
  const f = ((await readFile("/proc/stat", "utf8")).split("\n")[0] ?? "").split(/\s+/).slice(1).map(Number);
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = f;
  return {
    total: user + nice + system + idle + iowait + irq + softirq + steal,
    steal,
    busy: user + nice + system,
  };
}

/** Runs `fn`; also returns the share of the host's CPU time stolen by its own hypervisor meanwhile. */
async function withSteal<T>(fn: () => Promise<T>): Promise<{ value: T; stealPct: number }> {
  const a = await cpuTicks();
  const value = await fn();
  const b = await cpuTicks();
  return { value, stealPct: (100 * (b.steal - a.steal)) / Math.max(1, b.total - a.total) };
}

async function main(): Promise<void> {
  const preflight = await runPreflight();
  const kernel = preflight.guestKernel;
  if (!preflight.ok || !kernel) throw new Error("preflight failed: run sudo scripts/setup-host.sh");
  const cpu = /model name\s*:\s*(.*)/.exec(await readFile("/proc/cpuinfo", "utf8"))?.[1] ?? "?";
  say(
    `accelerator: ${preflight.accelerator}; host CPU: ${cpu}; load: ${(await readFile("/proc/loadavg", "utf8")).trim()}`,
  );
  const work = await mkdtemp(join(tmpdir(), "fm-boot-restore-"));
  const base = { accelerator: preflight.accelerator, kernel, pollMs: 500 };
  const coldHv = new QemuHypervisor({ ...base, dataDir: join(work, "cold") });
  const snapHv = new QemuHypervisor({ ...base, dataDir: join(work, "snap"), snapshots: true });
  const network = defaultNetwork(join(work, "net"));
  const rows: [string, string][] = [];
  try {
    const key = await cachedSshKey("vm-it-webdev");
    await mkdir(join(work, "ctx/app"), { recursive: true });
    await writeFile(join(work, "ctx/app/server.py"), README_EXAMPLE_SERVER_PY);
    const image = await buildImage({
      formfile: parseTestFormfile(readmeExampleFormfile(key.pub)),
      contextDir: join(work, "ctx"),
      buildId: "boot-restore",
      onLog: () => undefined,
    });
    say(`image ${image.digest} (${image.fromCache ? "builder cache hit" : "built"})`);
    const spec = (instanceId: string, ip: string): TVmSpecInput => ({
      instanceId,
      imagePath: image.imagePath,
      vcpu: 1,
      memoryMb: 1024,
      diskGb: 5,
      ipv4: ip,
      network,
    });
    const ssh = (ip: string, user = "webdev") =>
      waitForSsh({ host: ip, user, keyPath: key.path }, { timeoutMs: 240_000, intervalMs: 100 });

    const t0 = Date.now();
    const snapshot = await snapHv.ensureSnapshot(ZVmSpec.parse(spec("template", "10.42.252.200")));
    if (!snapshot) throw new Error("no snapshot made");
    const makeMs = Date.now() - t0;
    say(`snapshot ${snapshot.key} made in ${secs(makeMs)}`);

    const initramfs = join(work, "floor.img");
    await buildFloorInitramfs({
      kernelVersion: kernel.version,
      modulesDir: kernel.modulesDir,
      authorizedKey: key.pub,
      outFile: initramfs,
    });
    await ensureBridge({ name: network.bridge, gatewayIp: network.gatewayIp });
    const figures = { floor: [] as number[], cold: [] as number[], restored: [] as number[] };
    const resume: number[] = [];
    const suspendMs: number[] = [];
    const restoreStart: number[] = [];
    const steal: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      const round = await withSteal(async () => {
        // The floor: busybox + dropbear on the same kernel, machine and accelerator.
        const fip = `10.42.252.${150 + i}`;
        const tap = shortIfName("fmtr", `${work}${i}`);
        await createTap({ name: tap, bridge: network.bridge });
        await run(["ip", "route", "replace", `${fip}/32`, "dev", network.bridge]);
        let t = Date.now();
        await run(
          floorArgv({
            kernel: kernel.vmlinuz,
            initramfs,
            tap,
            ip: fip,
            gw: network.gatewayIp,
            accel: preflight.accelerator,
            dir: work,
          }),
        );
        await ssh(fip, "root");
        figures.floor.push(Date.now() - t);
        process.kill(Number((await readFile(join(work, "floor.pid"), "utf8")).trim()), "SIGKILL");
        await run(["ip", "route", "del", `${fip}/32`], { allowFailure: true });
        await deleteLink(tap);

        const cip = `10.42.252.${10 + i}`;
        await coldHv.create(spec(`cold-${i}`, cip));
        t = Date.now();
        await coldHv.start(`cold-${i}`);
        await ssh(cip);
        figures.cold.push(Date.now() - t);
        await coldHv.delete(`cold-${i}`);

        const rip = `10.42.252.${50 + i}`;
        await snapHv.create(spec(`restored-${i}`, rip));
        t = Date.now();
        await snapHv.start(`restored-${i}`);
        restoreStart.push(Date.now() - t);
        await ssh(rip);
        figures.restored.push(Date.now() - t);
        const launch = snapHv.lastLaunch.get(`restored-${i}`);
        if (launch?.mode !== "restored")
          throw new Error(`round ${i + 1} did not restore: ${launch?.fallback}`);

        t = Date.now();
        await snapHv.stop(`restored-${i}`, { suspend: true });
        suspendMs.push(Date.now() - t);
        t = Date.now();
        await snapHv.start(`restored-${i}`);
        await ssh(rip);
        resume.push(Date.now() - t);
        await snapHv.delete(`restored-${i}`);
      });
      steal.push(round.stealPct);
      say(
        `round ${i + 1}: floor ${secs(figures.floor[i] ?? 0)}, cold ${secs(figures.cold[i] ?? 0)}, restored ${secs(figures.restored[i] ?? 0)} (start() ${secs(restoreStart[i] ?? 0)}), suspend ${secs(suspendMs[i] ?? 0)}, resume → SSH ${secs(resume[i] ?? 0)}; host CPU stolen by its hypervisor ${round.stealPct.toFixed(1)}%`,
      );
    }
    const stats = (xs: number[]) => `median ${secs(median(xs))} (${xs.map(secs).join(", ")})`;
    const ratios = (xs: number[]) =>
      xs.map((x, i) => `${(x / Math.max(1, figures.floor[i] ?? 1)).toFixed(2)}×`).join(", ");
    rows.push([`launch → SSH, busybox + dropbear floor (${ROUNDS} rounds)`, stats(figures.floor)]);
    rows.push(["cold launch → SSH, README example (snapshots off)", stats(figures.cold)]);
    rows.push(["cold / floor, per round", ratios(figures.cold)]);
    rows.push(["restored launch → SSH, README example", stats(figures.restored)]);
    rows.push(["restored / floor, per round", ratios(figures.restored)]);
    rows.push(["of which `start()` (verify + load + identity hook)", stats(restoreStart)]);
    rows.push(["suspend (save memory, end QEMU)", stats(suspendMs)]);
    rows.push([
      "host CPU stolen by the machine's own hypervisor, per round",
      steal.map((p) => `${p.toFixed(1)}%`).join(", "),
    ]);
    rows.push(["resume → SSH", stats(resume)]);
    const stateBytes = (await stat(snapshot.statePath)).size;
    const diskBytes = (await stat(snapshot.diskPath)).size;
    rows.push(["snapshot made (template boot + save), once per image and shape", secs(makeMs)]);
    rows.push([
      "snapshot on disk (1 GiB guest)",
      `${mb(stateBytes + diskBytes)} (state ${mb(stateBytes)}, disk overlay ${mb(diskBytes)})`,
    ]);
  } finally {
    coldHv.close();
    snapHv.close();
    for (const dir of ["cold/vms", "snap/vms", "snap/snapshots"])
      for (const p of await qemuProcessesUnder(join(work, dir))) process.kill(p.pid, "SIGKILL");
    await deleteBridge(network.bridge);
    await rm(work, { recursive: true, force: true });
  }
  say(`load at the end: ${(await readFile("/proc/loadavg", "utf8")).trim()}`);
  say("\n| measurement | result |\n|---|---|");
  for (const [k, v] of rows) say(`| ${k} | ${v} |`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
