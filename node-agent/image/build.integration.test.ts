import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseFormfile } from "@/lib/formfile";
import type { TFormfile } from "@/lib/formfile/canonical";
import { run } from "../host/exec";
import { buildImage } from "./build";
import { ImageBuildError } from "./errors";
import { blobFileName, sha256File } from "./layers";

/**
 * The builder against the real cached base, each build in its build VM: every Formfile option
 * lands in the image (read back from the ext4 with debugfs), DISK sizes the filesystem, failures
 * carry line + exit code, cancel stops the VM, and the host never mounts the image nor keeps a
 * build VM running after a build (success or failure).
 */
function parse(text: string): TFormfile {
  const r = parseFormfile(text);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.formfile;
}

/** Mounts, loop devices and build VMs a build left behind on the host. */
async function formationMounts(): Promise<number> {
  // Only this file's builds: other test files may run build VMs meanwhile.
  const vms = (await run(["ps", "-eo", "args"])).stdout
    .split("\n")
    .filter(
      (l) => l.includes("formation-build") && /\/work\/(opts|sized|full|fail|escape|cancel)-/.test(l),
    ).length;
  const mounts = (await readFile("/proc/mounts", "utf8"))
    .split("\n")
    .filter((l) => l.includes("/var/cache/formation/work")).length;
  const loops = (await run(["losetup", "--list", "--noheadings", "--output", "BACK-FILE"])).stdout
    .split("\n")
    .filter((l) => l.includes("/var/cache/formation/work")).length;
  return mounts + loops + vms;
}

describe("image builder (real base, build VM)", () => {
  let work: string;
  let ctx: string;
  let raw: string;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), "fm-build-it-"));
    ctx = join(work, "ctx");
    await mkdir(join(ctx, "sub"), { recursive: true });
    await writeFile(join(ctx, "sub/hello.txt"), `hello ${Date.now()}\n`);
    raw = join(work, "image.raw");
  });

  afterAll(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  });

  const cat = async (path: string) =>
    (await run(["debugfs", "-R", `cat ${path}`, raw], { allowFailure: true })).stdout;

  it("honours USER, ENV scopes, RUN, EXPOSE, ENTRYPOINT, WORKDIR, the SSH CA and whole-context copy", async () => {
    const formfile = parse(
      [
        "NAME options",
        "USER username:alice passwd:pw1 sudo:false groups:docker,dev shell:/bin/sh lock_passwd:true ssh_pwauth:false disable_root:false",
        "USER username:bob passwd:pw2 sudo:true",
        "DISK 5",
        "ENV --scope=system A=1",
        "ENV --scope=user:alice B=2",
        "ENV --scope=service:nginx C=3",
        "ENV --scope=service:formation-entrypoint D=4",
        "RUN echo built-by-run > /opt/run.txt && test -f /srv/app/sub/hello.txt",
        "WORKDIR /srv/app",
        "EXPOSE 8080 9090",
        "ENTRYPOINT /bin/echo hello",
      ].join("\n"),
    );
    const logs: string[] = [];
    const result = await buildImage({
      formfile,
      contextDir: ctx,
      buildId: "opts",
      sshCaPublicKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBxCA ca",
      onLog: (l) => logs.push(l),
    });
    expect(logs.join("\n")).toContain("#2 RUN echo built-by-run");
    await run(["qemu-img", "convert", "-O", "raw", result.imagePath, raw]);

    expect(await cat("/opt/run.txt")).toBe("built-by-run\n");
    expect(await cat("/srv/app/sub/hello.txt")).toMatch(/^hello /);
    expect(await cat("/etc/environment")).toContain('A="1"');
    expect(await cat("/home/alice/.profile")).toContain("export B='2'");
    expect(await cat("/etc/systemd/system/nginx.service.d/50-formation-env.conf")).toContain(
      'Environment="C=3"',
    );
    const unit = await cat("/etc/systemd/system/formation-entrypoint.service");
    expect(unit).toContain(`ExecStart=${formfile.entrypoint?.map((a) => `"${a}"`).join(" ")}`);
    expect(unit).toContain("WorkingDirectory=/srv/app");
    expect(unit).toContain('Environment="D=4"');
    expect(await cat("/etc/formation/expose")).toBe("8080\n9090\n");
    const sshd = await cat("/etc/ssh/sshd_config.d/50-formation.conf");
    expect(sshd).toContain("TrustedUserCAKeys /etc/ssh/formation_user_ca.pub");
    expect(sshd).toContain("PermitRootLogin no");
    expect(sshd).toContain("Match User bob");
    expect(await cat("/etc/ssh/formation_user_ca.pub")).toContain("ssh-ed25519");
    expect(await cat("/etc/sudoers.d/90-formation-bob")).toBe("bob ALL=(ALL:ALL) NOPASSWD:ALL\n");
    expect(await cat("/etc/sudoers.d/90-formation-alice")).toBe("");

    const passwd = await cat("/etc/passwd");
    expect(passwd).toMatch(/^alice:x:\d+:\d+::\/home\/alice:\/bin\/sh$/m);
    const shadow = await cat("/etc/shadow");
    expect(shadow).toMatch(/^alice:!\$6\$/m); // locked
    expect(shadow).toMatch(/^bob:\$6\$[^:]+:0:/m); // chpasswd_expire: must change at first login
    const group = await cat("/etc/group");
    expect(group).toMatch(/^docker:x:\d+:alice$/m);
    expect(group).toMatch(/^sudo:x:27:bob$/m);
    expect(await cat("/usr/sbin/policy-rc.d")).toBe("");
    expect(await formationMounts()).toBe(0);
  });

  it("sizes the filesystem to DISK in a small layer over the base and leaves no garbage from COPY staging", async () => {
    const formfile = parse(
      ["NAME sized", "USER username:dev passwd:pw", "DISK 9", "COPY sub /data"].join("\n"),
    );
    const result = await buildImage({ formfile, contextDir: ctx, buildId: "sized", onLog: () => undefined });
    const info = JSON.parse((await run(["qemu-img", "info", "--output=json", result.imagePath])).stdout) as {
      "virtual-size": number;
      format: string;
      "backing-filename"?: string;
    };
    // The image is a layer over the base blob, named by its digest and linked beside it.
    expect(info.format).toBe("qcow2");
    expect(info["backing-filename"]).toBe(blobFileName(result.base.digest));
    expect((await sha256File(result.base.path)).digest).toBe(result.base.digest);
    expect(info["virtual-size"]).toBe(9 * 1024 ** 3);
    // Only what the build wrote: a few MB, not the 400 MB base.
    expect(result.sizeBytes).toBeLessThan(20e6);
    await run(["qemu-img", "convert", "-O", "raw", result.imagePath, raw]);
    const super_ = (await run(["dumpe2fs", "-h", raw])).stdout;
    const blocks = Number(/^Block count:\s+(\d+)/m.exec(super_)?.[1]);
    const blockSize = Number(/^Block size:\s+(\d+)/m.exec(super_)?.[1]);
    expect(blocks * blockSize).toBe(9 * 1024 ** 3);
    expect(super_).toMatch(/^Filesystem state:\s+clean$/m);
    expect(await cat("/data/hello.txt")).toMatch(/^hello /);
    expect((await run(["debugfs", "-R", "ls /", raw])).stdout).not.toContain(".formation-stage-");
    expect(await formationMounts()).toBe(0);
  });

  it("a step that fills the disk fails cleanly (ENOSPC is the step's error; nothing stays attached)", async () => {
    const formfile = parse(
      ["NAME full", "USER username:dev passwd:pw", "DISK 5", "RUN fallocate -l 6G /big"].join("\n"),
    );
    const err = await buildImage({
      formfile,
      contextDir: ctx,
      buildId: "full",
      onLog: () => undefined,
    }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "STEP_FAILED", line: 4 });
    expect(await formationMounts()).toBe(0);
  });

  it("reports the failing RUN with its Formfile line, command and exit code", async () => {
    const formfile = parse(
      [
        "NAME fails",
        "USER username:dev passwd:pw",
        "DISK 5",
        "RUN true",
        "RUN echo about to fail && exit 7",
      ].join("\n"),
    );
    const err = await buildImage({
      formfile,
      contextDir: ctx,
      buildId: "fail",
      onLog: () => undefined,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ImageBuildError);
    expect(err).toMatchObject({
      code: "STEP_FAILED",
      line: 5,
      exitCode: 7,
      command: "echo about to fail && exit 7",
    });
    expect(await formationMounts()).toBe(0);
  });

  it("refuses COPY sources that escape the context through a symlink", async () => {
    // The parser already rejects `..`; a symlink inside the context is the builder's to catch.
    await symlink("/etc", join(ctx, "evil"));
    const formfile = parse(
      ["NAME escape", "USER username:dev passwd:pw", "DISK 5", "COPY evil /stolen"].join("\n"),
    );
    const err = await buildImage({
      formfile,
      contextDir: ctx,
      buildId: "escape",
      onLog: () => undefined,
    }).catch((e: unknown) => e);
    await rm(join(ctx, "evil"));
    expect(err).toMatchObject({ code: "BAD_FORMFILE", line: 4 });
  });

  it("cancel kills the running step (and what it forked) and cleans up", async () => {
    const marker = `fm-cancel-${Date.now()}`;
    const formfile = parse(
      [
        "NAME cancel",
        "USER username:dev passwd:pw",
        "DISK 5",
        `RUN (sleep 600; echo ${marker}) & sleep 600 # ${marker}`,
      ].join("\n"),
    );
    const ac = new AbortController();
    const started = Date.now();
    const p = buildImage({
      formfile,
      contextDir: ctx,
      buildId: "cancel",
      signal: ac.signal,
      onLog: (l) => {
        if (l.includes("RUN (sleep")) setTimeout(() => ac.abort(), 300);
      },
    });
    const err = await p.catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "CANCELLED" });
    expect(Date.now() - started).toBeLessThan(60_000);
    const ps = (await run(["ps", "-eo", "args"])).stdout;
    expect(ps.includes(marker)).toBe(false);
    expect(await formationMounts()).toBe(0);
    expect(existsSync(join("/var/cache/formation/work"))).toBe(true);
  });
});
