/**
 * VM benchmark: image build times and launch → SSH-ready, against the floor of this machine.
 *   npx tsx bench/vm-bench.ts [--boots 3] [--copy-builds 3] [--skip-cold]
 * - base cold: mmdebstrap into a fresh temporary cache (downloads every .deb), then the same base
 *   again from that cache;
 * - per build on the warm shared cache (/var/cache/formation): the README example (INSTALL python3)
 *   (python3 is in the base), a COPY-only Formfile + INSTALL jq (packages the base lacks) and a
 *   COPY-only Formfile (several times, with its phase breakdown), each with a fresh context
 *   so the image cache misses;
 * - launch → SSH ready: `QemuHypervisor.start` until `ssh true` succeeds, for our image (with the
 *   pre-installed nginx enabled, and the same image with `RUN systemctl disable nginx`) and for a
 *   bare busybox + dropbear initramfs on the same kernel/machine/accelerator (the floor);
 * - what the pre-installed nginx adds to the base (dpkg's installed size of its packages).
 * Prints a markdown table. Needs root, QEMU, mmdebstrap, the cloud kernel, dropbear-bin.
 */
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { parseFormfile } from "@/lib/formfile";
import { run } from "@/node-agent/host/exec";
import { deleteBridge } from "@/node-agent/host/guest-isolation";
import { createTap, deleteLink, ensureBridge, shortIfName } from "@/node-agent/host/net";
import { runPreflight } from "@/node-agent/host/preflight";
import { waitForSsh } from "@/node-agent/host/ssh-probe";
import { defaultNetwork, QemuHypervisor } from "@/node-agent/hypervisor";
import { qemuProcessesUnder } from "@/node-agent/hypervisor/proc";
import { buildImage, ensureBaseRootfs } from "@/node-agent/image";
import { readmeExampleFormfile } from "@/node-agent/testing/readme-example";
import { buildFloorInitramfs, floorArgv } from "./vm-floor";

const { values } = parseArgs({
  options: { boots: { type: "string" }, "copy-builds": { type: "string" }, "skip-cold": { type: "boolean" } },
});
const BOOTS = Number(values.boots ?? 3);
const COPY_BUILDS = Number(values["copy-builds"] ?? 3);
const rows: [string, string][] = [];
const say = (s: string) => process.stdout.write(`${s}\n`);
const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;

async function timed<T>(label: string, fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const t = Date.now();
  const value = await fn();
  const ms = Date.now() - t;
  say(`${label}: ${secs(ms)}`);
  return { ms, value };
}

const SERVER_PY =
  'import http.server\nhttp.server.HTTPServer(("", 8080), http.server.SimpleHTTPRequestHandler).serve_forever()\n';

async function main(): Promise<void> {
  const preflight = await runPreflight();
  const kernel = preflight.guestKernel;
  if (!preflight.ok || !kernel)
    throw new Error(`preflight failed: ${JSON.stringify(preflight.checks.filter((c) => !c.ok))}`);
  say(
    `accelerator: ${preflight.accelerator} (${preflight.acceleratorReason}); load: ${(await readFile("/proc/loadavg", "utf8")).trim()}`,
  );
  const work = await mkdtemp(join(tmpdir(), "fm-vm-bench-"));
  const dataDir = join(work, "agent");
  const hv = new QemuHypervisor({ dataDir, accelerator: preflight.accelerator, kernel });
  try {
    if (!values["skip-cold"]) {
      const cold = join(work, "cold-cache");
      const c = await timed("base image, cold (empty .deb cache)", () =>
        ensureBaseRootfs({ cacheDir: cold }),
      );
      rows.push(["base image, cold cache (mmdebstrap + downloads)", secs(c.ms)]);
      const again = await timed("base image, cached", () => ensureBaseRootfs({ cacheDir: cold }));
      rows.push(["base image, already built (cache hit)", secs(again.ms)]);
      await rm(cold, { recursive: true, force: true });
    }
    await ensureBaseRootfs({});
    const keyPath = join(work, "id_ed25519");
    await run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", keyPath]);
    const pub = (await readFile(`${keyPath}.pub`, "utf8")).trim();
    const ctx = join(work, "ctx");
    await mkdir(join(ctx, "app"), { recursive: true });
    await writeFile(join(ctx, "app/server.py"), SERVER_PY);
    // A fresh file per run so the per-build cache misses and we time a real build.
    await writeFile(join(ctx, "app/nonce"), randomBytes(8).toString("hex"));
    const user = `USER username:webdev passwd:webpass123 sudo:true ssh_authorized_keys:"${pub}"`;
    const example = readmeExampleFormfile(pub).split("\n");
    const copyOnly = [`NAME copy-only`, user, "MEM 1024", "DISK 5", "COPY ./app /srv/app"];
    // Parse once per Formfile, as the console does (parsing salts the password hash afresh).
    const parse = (lines: string[]) => {
      const parsed = parseFormfile(lines.join("\n"));
      if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
      return parsed.formfile;
    };
    const exampleFf = parse(example);
    const copyOnlyFf = parse(copyOnly);
    // Log lines with their time since the build started: the per-phase breakdown.
    let phases: string[] = [];
    const build = (formfile: typeof exampleFf) => {
      const t0 = Date.now();
      phases = [];
      return buildImage({
        formfile,
        contextDir: ctx,
        buildId: "bench",
        onLog: (l) => {
          if (!l.startsWith("  ")) phases.push(`${((Date.now() - t0) / 1000).toFixed(2)} s  ${l}`);
        },
      });
    };
    // The first build after a base change also makes the base's ext4 image (once per base).
    await build(parse([...copyOnly, `EXPOSE ${1000 + Math.floor(Math.random() * 9000)}`]));
    const ex = await timed("image, README example (INSTALL python3), warm base", () => build(exampleFf));
    const noNginx = await timed("image, README example with nginx disabled", () =>
      build(parse([...example, "RUN systemctl disable nginx"])),
    );
    rows.push(["image build: README example (INSTALL python3), warm base", secs(ex.ms)]);
    // python3 is in the base (as in the original's Ubuntu cloud image): what an INSTALL of packages
    // the base lacks costs, on the same Formfile shape.
    const jq = await timed("image, COPY-only + INSTALL jq (3 packages not in the base)", () =>
      build(parse([...copyOnly, "INSTALL jq"])),
    );
    rows.push(["image build: COPY-only + INSTALL jq (3 packages not in the base), warm base", secs(jq.ms)]);
    const copyTimes: number[] = [];
    for (let i = 0; i < COPY_BUILDS; i++) {
      await writeFile(join(ctx, "app/nonce"), randomBytes(8).toString("hex"));
      const co = await timed(`image, COPY-only, warm base #${i + 1}`, () => build(copyOnlyFf));
      copyTimes.push(co.ms);
    }
    say(`COPY-only build phases (last build):\n${phases.map((p) => `  ${p}`).join("\n")}`);
    rows.push([
      `image build: COPY-only Formfile, warm base (${COPY_BUILDS} builds)`,
      `median ${secs(median(copyTimes))}, max ${secs(Math.max(...copyTimes))} (${copyTimes.map(secs).join(", ")})`,
    ]);
    const hit = await timed("image, same inputs again", () => build(copyOnlyFf));
    rows.push(["image build: same inputs again (cache hit)", secs(hit.ms)]);
    rows.push(["image size (qcow2, README example)", `${(ex.value.sizeBytes / 1e6).toFixed(0)} MB`]);
    const base = await ensureBaseRootfs({});
    const nginxKb = (
      await run([
        "dpkg-query",
        `--admindir=${join(base.dir, "var/lib/dpkg")}`,
        "-W",
        // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's format, not JS
        "-f=${Installed-Size}\\n",
        "nginx",
        "nginx-common",
      ])
    ).stdout
      .split("\n")
      .filter(Boolean)
      .reduce((sum, kb) => sum + Number(kb), 0);
    rows.push([
      "pre-installed nginx in the base (nginx + nginx-common, installed)",
      `${(nginxKb / 1024).toFixed(1)} MiB`,
    ]);

    const network = defaultNetwork(dataDir);
    const initramfs = join(work, "floor.img");
    await buildFloorInitramfs({
      kernelVersion: kernel.version,
      modulesDir: kernel.modulesDir,
      authorizedKey: pub,
      outFile: initramfs,
    });
    await ensureBridge({ name: network.bridge, gatewayIp: network.gatewayIp });
    // Ours and the floor alternate, so both see the same (shared, noisy) host load.
    const ours: number[] = [];
    const oursNoNginx: number[] = [];
    const floor: number[] = [];
    for (let i = 0; i < BOOTS; i++) {
      const id = `bench-${i}`;
      const ip = `10.42.253.${100 + i}`;
      await hv.create({
        instanceId: id,
        imagePath: ex.value.imagePath,
        vcpu: 1,
        memoryMb: 1024,
        diskGb: 5,
        ipv4: ip,
        network,
      });
      let t = Date.now();
      await hv.start(id);
      await waitForSsh({ host: ip, user: "webdev", keyPath }, { timeoutMs: 240_000, intervalMs: 100 });
      ours.push(Date.now() - t);
      say(`launch → SSH (Debian + systemd, our image) #${i + 1}: ${secs(ours[i] ?? 0)}`);
      await hv.delete(id);

      await hv.create({
        instanceId: `${id}-n`,
        imagePath: noNginx.value.imagePath,
        vcpu: 1,
        memoryMb: 1024,
        diskGb: 5,
        ipv4: ip,
        network,
      });
      t = Date.now();
      await hv.start(`${id}-n`);
      await waitForSsh({ host: ip, user: "webdev", keyPath }, { timeoutMs: 240_000, intervalMs: 100 });
      oursNoNginx.push(Date.now() - t);
      say(`launch → SSH (our image, nginx disabled) #${i + 1}: ${secs(oursNoNginx[i] ?? 0)}`);
      await hv.delete(`${id}-n`);

      const fip = `10.42.253.${150 + i}`;
      const tap = shortIfName("fmtb", `${work}${i}`);
      await createTap({ name: tap, bridge: network.bridge });
      await run(["ip", "route", "replace", `${fip}/32`, "dev", network.bridge]);
      t = Date.now();
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
      await waitForSsh({ host: fip, user: "root", keyPath }, { timeoutMs: 120_000, intervalMs: 100 });
      floor.push(Date.now() - t);
      say(`launch → SSH (busybox + dropbear floor) #${i + 1}: ${secs(floor[i] ?? 0)}`);
      process.kill(Number((await readFile(join(work, "floor.pid"), "utf8")).trim()), "SIGKILL");
      await run(["ip", "route", "del", `${fip}/32`], { allowFailure: true });
      await deleteLink(tap);
    }
    const stats = (xs: number[]) =>
      `median ${secs(median(xs))}, min ${secs(Math.min(...xs))} (${xs.map(secs).join(", ")})`;
    rows.push([`launch → SSH ready, our image, nginx enabled (${BOOTS} boots)`, stats(ours)]);
    rows.push([`launch → SSH ready, same image, nginx disabled (${BOOTS} boots)`, stats(oursNoNginx)]);
    rows.push([`launch → SSH ready, busybox + dropbear floor (${BOOTS} boots)`, stats(floor)]);
    rows.push([
      "ours / floor (per-round ratios)",
      ours.map((o, i) => `${(o / Math.max(1, floor[i] ?? 1)).toFixed(2)}×`).join(", "),
    ]);
  } finally {
    hv.close();
    for (const p of await qemuProcessesUnder(join(dataDir, "vms"))) process.kill(p.pid, "SIGKILL");
    await deleteBridge(defaultNetwork(dataDir).bridge);
    await rm(work, { recursive: true, force: true });
  }
  say(`load at the end: ${(await readFile("/proc/loadavg", "utf8")).trim()}`);
  say("\n| measurement | result |\n|---|---|");
  for (const [k, v] of rows) say(`| ${k} | ${v} |`);
}

await main();
