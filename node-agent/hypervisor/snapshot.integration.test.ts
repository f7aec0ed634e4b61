import { mkdtemp, open, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { run } from "../host/exec";
import { sshRun, type TSshTarget } from "../host/ssh-probe";
import { buildFormfile, cachedSshKey, type TBootedVm, VmHost } from "../testing/booted-image";

/**
 * Snapshot-restored launches and suspend/resume on real QEMU (issue #25): one cold boot, the
 * image's snapshot made from a template VM, two replicas restored from it that must be distinct
 * machines, a suspend that keeps a process and its memory, and a corrupt snapshot refused.
 */
async function sh(target: TSshTarget, command: string): Promise<string> {
  const r = await sshRun(target, command, { timeoutMs: 60_000 });
  if (r.exitCode !== 0) throw new Error(`${command} failed (${r.exitCode}): ${r.stderr}`);
  return r.stdout.trim();
}

/** The host key sshd at `ip` presents (ssh-keyscan), as `ssh-ed25519 <base64>`. */
async function scannedHostKey(ip: string): Promise<string> {
  const r = await run(["ssh-keyscan", "-T", "10", "-t", "ed25519", ip], { allowFailure: true });
  const line = r.stdout.split("\n").find((l) => l.includes("ssh-ed25519")) ?? "";
  return line.split(/\s+/).slice(1, 3).join(" ");
}

describe("snapshot-restored launches and suspend", () => {
  let work: string;
  let host: VmHost;
  let key: { path: string; pub: string };
  let imagePath: string;
  let first: TBootedVm;
  let replicas: TBootedVm[] = [];
  const as = (vm: TBootedVm) => vm.target("snap", key.path);

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), "fm-snapshot-"));
    key = await cachedSshKey("snapshot");
    const image = await buildFormfile({
      text: [
        "NAME snapshot-test",
        `USER username:snap passwd:snappw sudo:true ssh_authorized_keys:"${key.pub}"`,
        "MEM 1024",
        "DISK 5",
      ].join("\n"),
      contextDir: work,
      buildId: "snapshot-test",
    });
    imagePath = image.imagePath;
    host = await VmHost.create({ snapshots: true });
    first = await host.boot({ imagePath, user: "snap", keyPath: key.path });
    // The snapshot is made after the first boot finished; ask for it (and wait) directly.
    const vm = await host.hv.get(first.instanceId);
    expect(host.hv.lastLaunch.get(first.instanceId)?.mode).toBe("cold");
    expect(vm).not.toBeNull();
    const snapshot = await host.hv.ensureSnapshot({
      instanceId: first.instanceId,
      imagePath,
      vcpu: 1,
      memoryMb: 1024,
      diskGb: 5,
      ipv4: first.ip,
      network: host.network,
      rootAuthorizedKeys: [],
      restartPolicy: "always",
    });
    expect(snapshot).not.toBeNull();
    replicas = [
      await host.boot({ imagePath, user: "snap", keyPath: key.path }),
      await host.boot({ imagePath, user: "snap", keyPath: key.path }),
    ];
  });

  afterAll(async () => {
    await host?.close();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it("restores two replicas from one snapshot as distinct machines", async () => {
    const seen = [];
    for (const vm of replicas) {
      expect(host.hv.lastLaunch.get(vm.instanceId)?.mode).toBe("restored");
      const info = await host.hv.get(vm.instanceId);
      const [hostname, machineId, addr, random, user] = [
        await sh(as(vm), "hostname"),
        await sh(as(vm), "cat /etc/machine-id"),
        await sh(as(vm), "ip -4 -o addr show dev eth0"),
        await sh(as(vm), "head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \\n'"),
        await sh(as(vm), "id -un"),
      ];
      expect(user).toBe("snap");
      expect(addr).toContain(`${vm.ip}/32`);
      expect(hostname).toBe(vm.instanceId.toLowerCase());
      expect(machineId).toMatch(/^[0-9a-f]{32}$/);
      const hostKey = await scannedHostKey(vm.ip);
      expect(info?.sshHostKey.startsWith(hostKey)).toBe(true);
      seen.push({ hostname, machineId, random, hostKey, ip: vm.ip });
    }
    const [a, b] = seen;
    for (const field of ["hostname", "machineId", "random", "hostKey", "ip"] as const)
      expect(a?.[field], field).not.toBe(b?.[field]);
    // Both also reach the host's gateway side: their new addresses and routes work both ways.
    for (const vm of replicas) expect(await sh(as(vm), "ip route show default")).toContain("169.254.42.1");
  });

  it("the snapshot holds no instance's key: only the template's state and disk", async () => {
    const snaps = await host.hv.snapshotStore.list();
    expect(snaps).toHaveLength(1);
    const dir = join(host.hv.snapshotStore.dir, snaps[0]?.key ?? "");
    const files = (await run(["ls", dir])).stdout.split("\n").filter(Boolean).sort();
    expect(files).toEqual(["disk.qcow2", "meta.json", "state.bin"]);
    const vmKey = await readFile(join(host.dataDir, "vms", first.instanceId, "ssh_host_ed25519_key"), "utf8");
    // Past the part every OpenSSH ed25519 key shares (its format header): the key's own bytes.
    const body = vmKey.split("\n").slice(1, -2).join("");
    const state = await readFile(join(dir, "state.bin"));
    expect(body.length).toBeGreaterThan(200);
    expect(state.includes(Buffer.from(body.slice(120, 180)))).toBe(false);
  });

  it("suspends a VM and resumes it with its processes and memory intact", async () => {
    const vm = replicas[0];
    if (!vm) throw new Error("no replica");
    const pid = await sh(as(vm), "nohup sleep 100000 >/dev/null 2>&1 & echo $!");
    await sh(as(vm), "echo kept-in-ram > /dev/shm/marker");
    const suspended = await host.hv.stop(vm.instanceId, { suspend: true });
    expect(suspended.status).toBe("suspended");
    expect(suspended.pid).toBeNull();
    expect((await stat(join(host.dataDir, "vms", vm.instanceId, "suspend.bin"))).size).toBeGreaterThan(
      1 << 20,
    );
    await host.hv.start(vm.instanceId);
    expect(host.hv.lastLaunch.get(vm.instanceId)?.mode).toBe("resumed");
    expect(await sh(as(vm), `kill -0 ${pid} && echo alive`)).toBe("alive");
    expect(await sh(as(vm), "cat /dev/shm/marker")).toBe("kept-in-ram");
    // Its clock was set on resume: within a minute of the host's.
    const guestNow = Number(await sh(as(vm), "date +%s"));
    expect(Math.abs(guestNow - Date.now() / 1000)).toBeLessThan(60);
  });

  it("refuses a corrupt snapshot and boots cold instead, with a log line", async () => {
    const [snap] = await host.hv.snapshotStore.list();
    if (!snap) throw new Error("no snapshot");
    const file = await open(join(host.hv.snapshotStore.dir, snap.key, "state.bin"), "r+");
    try {
      const at = Math.floor((await file.stat()).size / 2);
      await file.write(Buffer.from("corrupted by the test"), 0, 21, at);
    } finally {
      await file.close();
    }
    const vm = await host.boot({ imagePath, user: "snap", keyPath: key.path });
    const launch = host.hv.lastLaunch.get(vm.instanceId);
    expect(launch?.mode).toBe("cold");
    expect(launch?.fallback).toMatch(/corrupt/);
    expect(await sh(as(vm), "id -un")).toBe("snap");
    // The corrupt one is gone (a fresh one may already be in the making after this cold boot).
    const left = await host.hv.snapshotStore.list();
    expect(left.filter((s) => s.createdAt === snap.createdAt)).toEqual([]);
  });
});
