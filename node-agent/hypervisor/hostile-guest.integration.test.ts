import { copyFile, mkdir, mkdtemp, readFile, readlink, rm } from "node:fs/promises";
import { connect, createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { run } from "../host/exec";
import { guardChains } from "../host/guest-isolation";
import { runPreflight } from "../host/preflight";
import { sshRun, type TSshTarget } from "../host/ssh-probe";
import { memoryLimitBytes, vmCgroupPaths } from "../host/vm-cgroup";
import { ensureVmUser } from "../host/vm-user";
import { buildFormfile, cachedSshKey, type TBootedVm, VmHost } from "../testing/booted-image";

/**
 * Guests are root in their VMs and hostile. Two VMs side by side on one node's bridge; from inside
 * one of them (root through sudo, a static busybox for raw ARP) try what a tenant would try against
 * the host and its neighbour, and check on the host that nothing moved. Also checks the QEMU
 * process confinement the agent applies (unprivileged user, empty chroot, seccomp, cgroup limits).
 */
type TProbe = "open" | "closed";

/** From inside the guest: can a TCP connection to ip:port be opened within 3 s? */
async function probe(target: TSshTarget, ip: string, port: number): Promise<TProbe> {
  const r = await sshRun(
    target,
    `timeout 3 bash -c 'exec 3<>/dev/tcp/${ip}/${port}' 2>/dev/null && echo open || echo closed`,
  );
  if (r.exitCode !== 0) throw new Error(`probe over SSH failed (${r.exitCode}): ${r.stderr}`);
  return r.stdout.trim() === "open" ? "open" : "closed";
}

/** The host's own global IPv4 addresses, bridges of VMs excluded. */
async function hostAddresses(): Promise<string[]> {
  const out = (await run(["ip", "-4", "-o", "addr", "show", "scope", "global"])).stdout;
  return out
    .split("\n")
    .filter((l) => l.trim() && !/ (fmbr|fnb-|fmt)/.test(l))
    .map((l) => l.split(/\s+/)[3]?.split("/")[0] ?? "")
    .filter(Boolean);
}

describe("hostile guests on one node", () => {
  let work: string;
  let host: VmHost;
  let a: TBootedVm;
  let b: TBootedVm;
  let attacker: TSshTarget;
  let victim: TSshTarget;
  let listener: Server;
  let port = 0;

  beforeAll(async () => {
    await run(["sh", "scripts/setup-host.sh", "--check"]);
    work = await mkdtemp(join(tmpdir(), "fm-hostile-guest-"));
    const ctx = join(work, "ctx");
    await mkdir(ctx, { recursive: true });
    await copyFile("/usr/bin/busybox", join(ctx, "busybox"));
    await run(["chmod", "0755", join(ctx, "busybox")]);
    const key = await cachedSshKey("hostile-guest");
    const image = await buildFormfile({
      text: [
        "NAME hostile-guest",
        `USER username:tenant passwd:tenantpw sudo:true ssh_authorized_keys:"${key.pub}"`,
        "MEM 1024",
        "DISK 5",
        "COPY ./busybox /usr/local/bin/busybox",
      ].join("\n"),
      contextDir: ctx,
      buildId: "hostile-guest",
    });
    listener = createServer((s) => s.end("host secret\n"));
    await new Promise<void>((r) => listener.listen(0, "0.0.0.0", r));
    const address = listener.address();
    port = typeof address === "object" && address ? address.port : 0;
    host = await VmHost.create();
    a = await host.boot({ imagePath: image.imagePath, user: "tenant", keyPath: key.path });
    b = await host.boot({ imagePath: image.imagePath, user: "tenant", keyPath: key.path });
    attacker = a.target("tenant", key.path);
    victim = b.target("tenant", key.path);
  });

  afterAll(async () => {
    listener?.close();
    await host?.close();
    if (work) await rm(work, { recursive: true, force: true });
    // Nothing of the node's guard stays behind once its bridge is gone.
    if (host) {
      const rules = (await run(["iptables", "-S"])).stdout;
      expect(rules).not.toContain(guardChains(host.network.bridge).input);
    }
  });

  it("each QEMU runs as the unprivileged VM user, without capabilities, chrooted, under seccomp, in its cgroup", async () => {
    const vmUser = await ensureVmUser();
    for (const vm of [a, b]) {
      const pid = (await host.hv.get(vm.instanceId))?.pid;
      if (!pid) throw new Error(`no pid for ${vm.instanceId}`);
      const status = await readFile(`/proc/${pid}/status`, "utf8");
      const field = (name: string) => status.match(new RegExp(`^${name}:\\s*(.*)$`, "m"))?.[1]?.trim();
      expect(field("Uid")?.split(/\s+/)).toEqual(Array(4).fill(String(vmUser.uid)));
      expect(field("Gid")?.split(/\s+/)).toEqual(Array(4).fill(String(vmUser.gid)));
      expect(field("CapEff")).toBe("0000000000000000");
      expect(field("CapPrm")).toBe("0000000000000000");
      expect(field("NoNewPrivs")).toBe("1");
      expect(field("Seccomp")).toBe("2");
      expect(await readlink(`/proc/${pid}/root`)).toBe("/var/cache/formation/qemu-root");
      const cgroups = await readFile(`/proc/${pid}/cgroup`, "utf8");
      expect(cgroups).toContain("/formation-vms/");
      const tap = (await host.hv.get(vm.instanceId))?.tap ?? "";
      const memory = vmCgroupPaths(tap).find((p) => p.includes("/memory/") || !p.includes("/cpu/"));
      const limitFile = memory?.includes("/memory/") ? "memory.limit_in_bytes" : "memory.max";
      expect(Number((await readFile(join(memory ?? "", limitFile), "utf8")).trim())).toBe(
        memoryLimitBytes(1024, (await runPreflight()).accelerator),
      );
    }
  });

  it("a guest opens no connection to its host: neither the bridge address nor the host's other addresses", async () => {
    // The listener is real and reachable on the host itself.
    await new Promise<void>((resolve, reject) =>
      connect(port, "127.0.0.1", resolve).on("error", reject).setTimeout(3000),
    );
    expect(await probe(attacker, host.network.gatewayIp, port)).toBe("closed");
    const addresses = await hostAddresses();
    expect(addresses.length).toBeGreaterThan(0);
    for (const ip of addresses) expect(await probe(attacker, ip, port)).toBe("closed");
  });

  it("a guest cannot reach its neighbour: not routed through the host, not at L2 with an on-link route", async () => {
    // The neighbour is up and serving: the host reaches it.
    expect((await sshRun(victim, "hostname")).stdout.trim()).toBe(b.instanceId);
    expect(await probe(attacker, b.ip, 22)).toBe("closed");
    const onLink = await sshRun(attacker, `sudo -n ip route add ${b.ip}/32 dev eth0 && ip route get ${b.ip}`);
    expect(onLink.exitCode).toBe(0);
    expect(onLink.stdout).not.toContain("via");
    expect(await probe(attacker, b.ip, 22)).toBe("closed");
    const neigh = await sshRun(attacker, `ip neigh show ${b.ip}`);
    expect(neigh.stdout).not.toMatch(/lladdr/);
  });

  it("forged ARP for the neighbour's address changes nothing on the host, which keeps reaching the right VM", async () => {
    const bridge = host.network.bridge;
    const before = (await run(["ip", "neigh", "show", b.ip, "dev", bridge])).stdout.trim();
    expect(before).toMatch(/lladdr [0-9a-f:]{17} PERMANENT/);
    const spoof = await sshRun(
      attacker,
      `sudo -n ip addr add ${b.ip}/32 dev eth0 && sudo -n busybox arping -U -c 3 -s ${b.ip} -I eth0 ${host.network.gatewayIp}; sudo -n busybox arping -A -c 3 -s ${b.ip} -I eth0 ${host.network.gatewayIp}; echo sent`,
      { timeoutMs: 30_000 },
    );
    expect(spoof.stdout).toContain("sent");
    expect((await run(["ip", "neigh", "show", b.ip, "dev", bridge])).stdout.trim()).toBe(before);
    expect((await sshRun(victim, "hostname")).stdout.trim()).toBe(b.instanceId);
    const tapA = (await host.hv.get(a.instanceId))?.tap ?? "";
    const port = (await run(["bridge", "-d", "link", "show", "dev", tapA])).stdout;
    expect(port).toMatch(/learning off/);
    expect(port).toMatch(/isolated on/);
    const fdb = (await run(["bridge", "fdb", "show", "dev", tapA])).stdout;
    const learned = fdb
      .split("\n")
      .filter((l) => l.includes("master") && !l.includes("static") && !l.includes("permanent"));
    expect(learned).toEqual([]);
  });
});
