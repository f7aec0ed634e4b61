import { createHash } from "node:crypto";
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { run } from "../host/exec";
import { sshRun, type TSshTarget } from "../host/ssh-probe";
import { buildAndBoot, cachedSshKey, httpGet, type TBootedVm, waitFor } from "../testing/booted-image";

/**
 * The original README's "Option 2: Containerized Nginx with Docker Networking": the Formfile stops
 * and disables the pre-installed nginx (`RUN sudo systemctl stop nginx && sudo systemctl disable
 * nginx`), installs docker.io and docker-compose, and its ENTRYPOINT (JSON form) starts a compose
 * file whose container serves port 80 in the VM. No registry is reachable, so the container image
 * is made here, offline: a `docker save`-format archive of one layer holding a static busybox.
 * Everything is byte-stable from run to run, so a warm machine reuses the built image.
 */
const COMPOSE_YML = `services:
  web:
    image: formation/tiny:1
    network_mode: host
    command: ["/bin/busybox", "httpd", "-f", "-p", "80", "-h", "/www"]
`;
// No kernel modules in the guest: no overlayfs, bridge or netfilter modules, so vfs storage and
// host networking (what compose's network_mode: host uses anyway).
const DAEMON_JSON = '{ "storage-driver": "vfs", "iptables": false, "ip6tables": false, "bridge": "none" }\n';

/** A one-layer image archive (`docker load` format) with busybox and a page, reproducible bytes. */
async function tinyImageArchive(dir: string, out: string): Promise<void> {
  const rootfs = join(dir, "rootfs");
  await mkdir(join(rootfs, "bin"), { recursive: true });
  await mkdir(join(rootfs, "www"), { recursive: true });
  await copyFile("/usr/bin/busybox", join(rootfs, "bin/busybox"));
  await run(["chmod", "0755", join(rootfs, "bin/busybox")]);
  await writeFile(join(rootfs, "www/index.html"), "hello from a container\n");
  const stable = ["--sort=name", "--mtime=@0", "--owner=0", "--group=0", "--numeric-owner"];
  const img = join(dir, "img");
  await mkdir(join(img, "layer"), { recursive: true });
  await run(["tar", ...stable, "-C", rootfs, "-cf", join(img, "layer/layer.tar"), "bin", "www"]);
  const diffId = createHash("sha256")
    .update(await readFile(join(img, "layer/layer.tar")))
    .digest("hex");
  const config = {
    architecture: "amd64",
    os: "linux",
    config: { Cmd: ["/bin/busybox", "httpd", "-f", "-p", "80", "-h", "/www"] },
    rootfs: { type: "layers", diff_ids: [`sha256:${diffId}`] },
  };
  await writeFile(join(img, "config.json"), JSON.stringify(config));
  await writeFile(
    join(img, "manifest.json"),
    JSON.stringify([{ Config: "config.json", RepoTags: ["formation/tiny:1"], Layers: ["layer/layer.tar"] }]),
  );
  await run(["tar", ...stable, "-C", img, "-cf", out, "manifest.json", "config.json", "layer"]);
}

describe("README Option 2: docker-compose inside the instance, system nginx out of the way", () => {
  let work: string;
  let vm: TBootedVm | undefined;
  let webdev: TSshTarget;
  const buildLog: string[] = [];
  let fromCache = false;

  beforeAll(async () => {
    await run(["sh", "scripts/setup-host.sh", "--check"]);
    work = await mkdtemp(join(tmpdir(), "fm-compose-"));
    const ctx = join(work, "ctx");
    await mkdir(join(ctx, "compose"), { recursive: true });
    await writeFile(join(ctx, "compose/docker-compose.yml"), COMPOSE_YML);
    await writeFile(join(ctx, "daemon.json"), DAEMON_JSON);
    await tinyImageArchive(join(work, "tiny"), join(ctx, "compose/tiny.tar"));
    const key = await cachedSshKey("compose-webdev");
    const text = [
      "NAME compose-app",
      `USER username:webdev passwd:webpass123 sudo:true groups:docker ssh_authorized_keys:"${key.pub}"`,
      "VCPU 1",
      "MEM 1024",
      "DISK 5",
      "RUN sudo systemctl stop nginx && sudo systemctl disable nginx",
      "COPY ./daemon.json /etc/docker/daemon.json",
      "INSTALL docker.io docker-compose",
      "COPY ./compose /srv/compose",
      "WORKDIR /srv/compose",
      'ENTRYPOINT ["/bin/sh", "-c", "docker load -i tiny.tar && exec docker-compose up"]',
      "EXPOSE 80",
    ].join("\n");
    ({ vm, fromCache } = await buildAndBoot({
      text,
      contextDir: ctx,
      buildId: "readme-compose",
      log: buildLog,
      user: "webdev",
      keyPath: key.path,
    }));
    webdev = vm.target("webdev", key.path);
  });

  afterAll(async () => {
    await vm?.close();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it("the ENTRYPOINT's compose file runs the container, which serves port 80 of the VM", async () => {
    const body = await waitFor("the container on port 80", () => httpGet(`http://${webdev.host}/`), 240_000);
    expect(body).toBe("hello from a container\n");
    const ps = await sshRun(webdev, "docker ps --format '{{.Image}} {{.Status}}'");
    expect(ps.exitCode).toBe(0);
    expect(ps.stdout).toMatch(/^formation\/tiny:1 Up/m);
  });

  it("the build said what stop and disable of nginx mean, and nginx stays off in the instance", async () => {
    const log = buildLog.join("\n");
    if (!fromCache) {
      // A cache hit has no build log to read: the image was built by an earlier run.
      expect(log).toMatch(/systemctl stop nginx: services do not run during the build; nothing to stop/);
      expect(log).toMatch(/Removed .*multi-user\.target\.wants\/nginx\.service/);
    }
    const r = await sshRun(webdev, "systemctl is-enabled nginx; systemctl is-active nginx");
    expect({ out: r.stdout.trim().split("\n"), err: r.stderr }).toEqual({
      out: ["disabled", "inactive"],
      err: "",
    });
  });
});
