/**
 * Boot timeline (issue #25): where launch → SSH of the README example goes, per phase, per boot.
 *   npx tsx bench/boot-timeline.ts [--boots 3]
 * Boots the README example image (the Formfile and key of node-agent/image/vm.integration.test.ts,
 * so a warm machine's builder cache holds it) with QemuHypervisor as the agent does, reads the
 * serial console as it is written (host receive time of every line, the guest's printk stamp when
 * the line has one), waits for `ssh true`, then asks the guest: `systemd-analyze` (kernel, initrd,
 * userspace), the critical chain of ssh.service and the slowest units. Prints one timeline per
 * boot and a table of medians. Needs root, QEMU, the cloud kernel.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { deleteBridge } from "@/node-agent/host/guest-isolation";
import { runPreflight } from "@/node-agent/host/preflight";
import { sshRun, waitForSsh } from "@/node-agent/host/ssh-probe";
import { defaultNetwork, QemuHypervisor } from "@/node-agent/hypervisor";
import { qemuProcessesUnder } from "@/node-agent/hypervisor/proc";
import { buildImage } from "@/node-agent/image";
import { cachedSshKey, parseTestFormfile } from "@/node-agent/testing/booted-image";
import { README_EXAMPLE_SERVER_PY, readmeExampleFormfile } from "@/node-agent/testing/readme-example";

const { values } = parseArgs({ options: { boots: { type: "string" } } });
const BOOTS = Number(values.boots ?? 3);
const say = (s: string) => process.stdout.write(`${s}\n`);
const secs = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;

// The same bytes as vm.integration.test.ts: the image is a builder cache hit on a warm machine.
const ESC = String.fromCharCode(27);
/** Removes terminal colour and cursor sequences (systemd's status lines carry them). */
const stripAnsi = (s: string) => s.replace(new RegExp(`${ESC}\\[[0-9;]*[A-Za-z]`, "g"), "");

type TSerialLine = { atMs: number; text: string; printk: number | null };

/** Follows a growing file: every new complete line with the time it was seen. */
function followSerial(path: string, t0: number): { lines: TSerialLine[]; stop: () => void } {
  const lines: TSerialLine[] = [];
  let offset = 0;
  let partial = "";
  let stopped = false;
  const poll = async () => {
    while (!stopped) {
      const text = await readFile(path).catch(() => Buffer.alloc(0));
      if (text.length > offset) {
        const chunk = partial + text.subarray(offset).toString("latin1");
        offset = text.length;
        const parts = chunk.split(/\r?\n/);
        partial = parts.pop() ?? "";
        for (const raw of parts) {
          const clean = stripAnsi(raw).trim();
          if (!clean) continue;
          const m = /^\[\s*(\d+\.\d+)\]/.exec(clean);
          lines.push({
            atMs: Date.now() - t0,
            text: clean.slice(0, 110),
            printk: m?.[1] ? Number(m[1]) : null,
          });
        }
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  void poll();
  return { lines, stop: () => (stopped = true) };
}

/** Seconds from `systemd-analyze` ("… 1.2s (kernel) + 0.8s (initrd) + 3.4s (userspace) = …"). */
function analyzeParts(out: string): Record<string, number> {
  const parts: Record<string, number> = {};
  for (const m of out.matchAll(/([\d.]+)(ms|s)\s+\((\w+)\)/g)) {
    const value = Number(m[1]) / (m[2] === "ms" ? 1000 : 1);
    if (m[3]) parts[m[3]] = value;
  }
  return parts;
}

async function main(): Promise<void> {
  const preflight = await runPreflight();
  const kernel = preflight.guestKernel;
  if (!preflight.ok || !kernel) throw new Error("preflight failed: run `node-agent init` for what to fix");
  say(`accelerator: ${preflight.accelerator}; load: ${(await readFile("/proc/loadavg", "utf8")).trim()}`);
  const work = await mkdtemp(join(tmpdir(), "fm-boot-timeline-"));
  const dataDir = join(work, "agent");
  const hv = new QemuHypervisor({ dataDir, accelerator: preflight.accelerator, kernel, pollMs: 500 });
  const rows: Record<string, number[]> = {};
  const record = (k: string, v: number) => {
    rows[k] = [...(rows[k] ?? []), v];
  };
  try {
    const key = await cachedSshKey("vm-it-webdev");
    await mkdir(join(work, "ctx/app"), { recursive: true });
    await writeFile(join(work, "ctx/app/server.py"), README_EXAMPLE_SERVER_PY);
    const formfile = parseTestFormfile(readmeExampleFormfile(key.pub));
    const b0 = Date.now();
    const image = await buildImage({
      formfile,
      contextDir: join(work, "ctx"),
      buildId: "boot-timeline",
      onLog: () => undefined,
    });
    say(
      `image ${image.digest} (${image.fromCache ? "builder cache hit" : "built"} in ${secs(Date.now() - b0)})`,
    );

    for (let i = 1; i <= BOOTS; i++) {
      const id = `bt-${i}-${Date.now().toString(36)}`;
      const ip = `10.42.252.${10 + i}`;
      await hv.create({
        instanceId: id,
        imagePath: image.imagePath,
        vcpu: 1,
        memoryMb: 1024,
        diskGb: 5,
        ipv4: ip,
        network: defaultNetwork(dataDir),
      });
      const serialPath = join(dataDir, "vms", id, "serial.log");
      const t0 = Date.now();
      const serial = followSerial(serialPath, t0);
      await hv.start(id);
      const startedMs = Date.now() - t0;
      const target = { host: ip, user: "webdev", keyPath: key.path };
      await waitForSsh(target, { timeoutMs: 240_000, intervalMs: 100 });
      const sshMs = Date.now() - t0;
      serial.stop();
      // systemd-analyze answers once the boot has finished (units after sshd still start).
      await sshRun(target, "sudo -n timeout 120 systemctl is-system-running --wait", { timeoutMs: 130_000 });
      const analyze = (await sshRun(target, "sudo -n systemd-analyze 2>&1")).stdout.trim();
      const chain = (
        await sshRun(target, "sudo -n systemd-analyze critical-chain ssh.service --no-pager 2>&1")
      ).stdout;
      const blame = (await sshRun(target, "sudo -n systemd-analyze blame --no-pager 2>&1 | head -6")).stdout;
      const parts = analyzeParts(analyze);
      // The same login on the booted, idle guest: how much of the last phase is the login itself.
      const idle: number[] = [];
      for (let k = 0; k < 3; k++) {
        const l0 = Date.now();
        await sshRun(target, "true");
        idle.push(Date.now() - l0);
      }
      const first = serial.lines[0];
      const firstPrintk = serial.lines.find((l) => l.printk !== null);
      // Guest time 0 (the kernel's printk clock) in host time: the first stamped line's arrival
      // minus its stamp (an upper bound: the line reached the file a little after it was stamped).
      const kernelZeroMs = firstPrintk?.printk != null ? firstPrintk.atMs - firstPrintk.printk * 1000 : null;
      say(`\nboot ${i}: launch → SSH ${secs(sshMs)}`);
      say(`  ${secs(startedMs)}  QEMU started (tap, cgroup, process up; hv.start returned)`);
      if (kernelZeroMs !== null)
        say(`  ${secs(kernelZeroMs)}  guest kernel clock 0 (firmware, kernel load; ≈)`);
      if (first) say(`  ${secs(first.atMs)}  first serial line: ${first.text}`);
      for (const l of serial.lines.slice(1, 12)) say(`  ${secs(l.atMs)}  ${l.text}`);
      if (serial.lines.length > 12) say(`  … ${serial.lines.length - 12} more serial lines`);
      say(`  ${secs(sshMs)}  ssh true succeeded`);
      say(`  ssh true on the booted, idle guest: ${idle.map(secs).join(", ")}`);
      record("ssh true, idle guest", median(idle));
      say(`  systemd-analyze: ${analyze.split("\n")[0] ?? ""}`);
      say(
        `  ssh.service critical chain:\n${chain
          .split("\n")
          .slice(0, 8)
          .map((l) => `    ${l}`)
          .join("\n")}`,
      );
      say(
        `  slowest units:\n${blame
          .split("\n")
          .map((l) => `    ${l.trim()}`)
          .join("\n")}`,
      );
      record("QEMU started", startedMs);
      if (kernelZeroMs !== null) record("guest kernel clock 0 (≈)", kernelZeroMs);
      for (const [k, v] of Object.entries(parts)) record(`systemd-analyze: ${k}`, v * 1000);
      record("launch → SSH (ssh true)", sshMs);
      await hv.delete(id);
    }
    say(`\n| phase (README example, ${preflight.accelerator}, ${BOOTS} boots) | median | boots |`);
    say("|---|---|---|");
    for (const [k, v] of Object.entries(rows))
      say(`| ${k} | ${secs(median(v))} | ${v.map(secs).join(", ")} |`);
  } finally {
    hv.close();
    for (const p of await qemuProcessesUnder(join(dataDir, "vms"))) process.kill(p.pid, "SIGKILL");
    await deleteBridge(defaultNetwork(dataDir).bridge);
    await rm(work, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
