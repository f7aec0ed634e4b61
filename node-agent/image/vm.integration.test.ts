import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { run } from "../host/exec";
import { deleteBridge } from "../host/guest-isolation";
import { linkExists } from "../host/net";
import { runPreflight } from "../host/preflight";
import { sshRun, waitForSsh } from "../host/ssh-probe";
import { qemuProcessesUnder } from "../hypervisor/proc";
import { defaultNetwork, QemuHypervisor } from "../hypervisor/qemu";
import type { TVmEvent } from "../hypervisor/types";
import { cachedSshKey, httpGet, parseTestFormfile, waitFor } from "../testing/booted-image";
import { README_EXAMPLE_SERVER_PY, readmeExampleFormfile } from "../testing/readme-example";
import { buildImage } from "./build";

/**
 * The original README's example end to end on real QEMU (TCG here and in CI): build the image, boot
 * it, SSH in as the Formfile's user with a fresh key, check the ENTRYPOINT service and its HTTP
 * answer from the host, stop (ACPI), start, restart, crash → auto-restart, adopt from a second
 * driver instance, delete, and check nothing is left behind. Reuses /var/cache/formation so a warm
 * run skips the base and image builds.
 */
const BOOT_TIMEOUT = 180_000;

describe("Formfile → image → QEMU VM (real)", () => {
  let work: string;
  let dataDir: string;
  let keyPath: string;
  let pub: string;
  let hv: QemuHypervisor;
  let imagePath: string;
  const events: TVmEvent[] = [];
  const vmIp = `10.42.254.${10 + Math.floor(Math.random() * 240)}`;
  const instanceId = `it-${Date.now().toString(36)}`;

  beforeAll(async () => {
    await run(["sh", "scripts/setup-host.sh", "--check"]);
    work = await mkdtemp(join(tmpdir(), "fm-vm-it-"));
    dataDir = join(work, "agent");
    // A cached key and a fixed salt: the same Formfile every run, so a warm machine skips the build.
    const key = await cachedSshKey("vm-it-webdev");
    keyPath = key.path;
    pub = key.pub;
    await mkdir(join(work, "ctx/app"), { recursive: true });
    await writeFile(join(work, "ctx/app/server.py"), README_EXAMPLE_SERVER_PY);
  });

  afterAll(async () => {
    // On a failed run, delete through the driver first so tap, route and overlay go too.
    await hv?.delete(instanceId).catch(() => undefined);
    hv?.close();
    if (dataDir)
      for (const p of await qemuProcessesUnder(join(dataDir, "vms"))) process.kill(p.pid, "SIGKILL");
    if (dataDir) await deleteBridge(defaultNetwork(dataDir).bridge);
    if (work) await rm(work, { recursive: true, force: true });
  });

  it("builds the README example (cached on a warm machine)", async () => {
    const text = readmeExampleFormfile(pub);
    const formfile = parseTestFormfile(text);
    const logs: string[] = [];
    const result = await buildImage({
      formfile,
      contextDir: join(work, "ctx"),
      buildId: "vm-it",
      onLog: (l) => logs.push(l),
    });
    expect(result.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(existsSync(result.imagePath)).toBe(true);
    const info = JSON.parse((await run(["qemu-img", "info", "--output=json", result.imagePath])).stdout) as {
      "virtual-size": number;
      format: string;
    };
    expect(info.format).toBe("qcow2");
    expect(info["virtual-size"]).toBe(5 * 1024 ** 3);
    imagePath = result.imagePath;

    const again = await buildImage({
      formfile,
      contextDir: join(work, "ctx"),
      buildId: "vm-it-2",
      onLog: () => undefined,
    });
    expect(again).toMatchObject({ fromCache: true, digest: result.digest, imagePath: result.imagePath });
  });

  it("boots, serves SSH and the ENTRYPOINT, survives stop/start/restart/crash/adopt, and deletes cleanly", async () => {
    const preflight = await runPreflight();
    const kernel = preflight.guestKernel;
    if (!kernel) throw new Error("no guest kernel");
    hv = new QemuHypervisor({
      dataDir,
      accelerator: preflight.accelerator,
      kernel,
      pollMs: 500,
      onEvent: (e) => events.push(e),
    });
    const network = defaultNetwork(dataDir);
    await hv.create({ instanceId, imagePath, vcpu: 1, memoryMb: 1024, diskGb: 5, ipv4: vmIp, network });
    const started = await hv.start(instanceId);
    expect(started.status).toBe("running");
    expect(linkExists(started.tap)).toBe(true);

    const target = { host: vmIp, user: "webdev", keyPath };
    await waitForSsh(target, { timeoutMs: BOOT_TIMEOUT });
    const active = await waitFor(
      "entrypoint active",
      async () =>
        (await sshRun(target, "systemctl is-active formation-entrypoint")).stdout.trim() === "active",
      60_000,
    );
    expect(active).toBe(true);
    expect((await sshRun(target, "sudo -n id -u")).stdout.trim()).toBe("0");
    // sshd started in the initrd, before systemd, and ssh.service adopted it: its main process is
    // that daemon, in the unit's cgroup, back at nice 0; a restart runs a new sshd that answers.
    // (The checks below run once the entrypoint is active, so the takeover has happened.)
    expect(await readFile(started.serialLogPath, "utf8")).toContain("initrd: sshd listening before systemd");
    const sshUnit = async () =>
      (
        await sshRun(
          target,
          "pid=$(systemctl show -p MainPID --value ssh); echo $(systemctl is-active ssh) $pid $(cat /run/sshd.pid) $(cat /proc/$pid/cgroup) $(ps -o ni= -p $pid) $(ps -e -o ni= | grep -c -- -10)",
        )
      ).stdout.trim();
    const adoptedSshd = (await sshUnit()).split(" ");
    expect(adoptedSshd[0]).toBe("active");
    expect(adoptedSshd[1]).toBe(adoptedSshd[2]);
    expect(adoptedSshd[3]).toBe("0::/system.slice/ssh.service");
    expect(adoptedSshd[4]).toBe("0");
    // Nothing is left at the initrd's nice -10 (the sessions it started went back to 0 too).
    expect(adoptedSshd[5]).toBe("0");
    await sshRun(target, "sudo -n systemctl restart ssh");
    await waitForSsh(target, { timeoutMs: BOOT_TIMEOUT });
    const restartedSshd = (await sshUnit()).split(" ");
    expect(restartedSshd[0]).toBe("active");
    expect(restartedSshd[1]).toBe(restartedSshd[2]);
    expect(restartedSshd[1]).not.toBe(adoptedSshd[1]);
    expect(restartedSshd[3]).toBe("0::/system.slice/ssh.service");
    const body = await waitFor("HTTP answer", () => httpGet(`http://${vmIp}:8080/`), 60_000);
    expect(body).toContain("hello from formation");
    expect((await sshRun(target, "hostname")).stdout.trim()).toBe(instanceId);
    // The guest presents the host key the driver made for it (pinnable by the console).
    const scan = await run(["ssh-keyscan", "-t", "ed25519", vmIp], { allowFailure: true });
    expect(scan.stdout).toContain(started.sshHostKey.split(" ")[1] ?? "missing");
    // The serial log is the user-readable console: systemd reaches the getty on ttyS0.
    expect(
      await waitFor(
        "getty on the serial console",
        async () => (await readFile(started.serialLogPath, "utf8")).includes(`${instanceId} login:`),
        60_000,
      ),
    ).toBe(true);

    const m = await hv.metrics(instanceId);
    expect(m.running).toBe(true);
    expect(m.cpuSeconds).toBeGreaterThan(0);
    expect(m.rssBytes).toBeGreaterThan(50 * 1024 ** 2);
    expect(m.diskBytes).toBeGreaterThan(0);
    expect(m.netRxBytes).toBeGreaterThan(0);

    // ACPI shutdown must be clean (acpid in the guest), not the hard-kill fallback.
    const pid1 = started.pid ?? 0;
    const t0 = Date.now();
    const stopped = await hv.stop(instanceId, { timeoutMs: 60_000 });
    expect(stopped.status).toBe("stopped");
    expect(existsSync(`/proc/${pid1}`)).toBe(false);
    expect(linkExists(started.tap)).toBe(false);
    expect(await readFile(started.serialLogPath, "utf8")).toMatch(/reboot: Power down|Powering off/);
    expect(Date.now() - t0).toBeLessThan(60_000);

    await hv.start(instanceId);
    await waitForSsh(target, { timeoutMs: BOOT_TIMEOUT });
    const restarted = await hv.restart(instanceId);
    expect(restarted.pid).not.toBe(pid1);
    await waitForSsh(target, { timeoutMs: BOOT_TIMEOUT });

    // Crash: QEMU killed behind the driver's back → detected and restarted (policy "always").
    const crashedPid = restarted.pid ?? 0;
    process.kill(crashedPid, "SIGKILL");
    const again = await waitFor(
      "auto-restart",
      async () => events.find((e) => e.type === "restarted"),
      30_000,
    );
    expect(again.type).toBe("restarted");
    await waitForSsh(target, { timeoutMs: BOOT_TIMEOUT });

    // A second driver on the same data dir (agent restart) adopts the running VM, no duplicate QEMU.
    hv.close();
    const hv2 = new QemuHypervisor({ dataDir, accelerator: preflight.accelerator, kernel, pollMs: 500 });
    const adopted = await hv2.adopt();
    expect(adopted.adopted).toEqual([instanceId]);
    expect(await qemuProcessesUnder(join(dataDir, "vms"))).toHaveLength(1);
    hv = hv2;

    const before = await hv.get(instanceId);
    await hv.delete(instanceId);
    expect(await hv.list()).toEqual([]);
    expect(await qemuProcessesUnder(join(dataDir, "vms"))).toEqual([]);
    expect(linkExists(before?.tap ?? "none")).toBe(false);
    expect(existsSync(join(dataDir, "vms", instanceId))).toBe(false);
    const routes = (await run(["ip", "route", "show", `${vmIp}/32`])).stdout.trim();
    expect(routes).toBe("");
  });
});
