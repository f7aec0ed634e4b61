import { chmod, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "ssh2";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { run } from "../host/exec";
import { sshRun, type TSshTarget } from "../host/ssh-probe";
import { buildAndBoot, cachedSshKey, httpGet, type TBootedVm, waitFor } from "../testing/booted-image";
import { SYSTEM_PATH } from "./render";

/**
 * The original README's Formfile reference, section by section, through the real builder and a
 * booted VM, checked over SSH: RUN (single and chained), COPY (directory and file), ENV in all three
 * scopes with `PATH=/usr/local/bin:$PATH` expanded, ENTRYPOINT in shell form, EXPOSE, every USER
 * option on several USER lines, the pre-installed nginx and "Option 1" (a COPY'd nginx.conf, then
 * `RUN sudo systemctl restart nginx`). Images are cached by content, so a warm machine only boots.
 */
const NGINX_CONF = `user www-data;
worker_processes 1;
pid /run/nginx.pid;
events { worker_connections 64; }
http {
  server {
    listen 80 default_server;
    default_type text/plain;
    location / { return 200 "served by the Formfile's nginx.conf\\n"; }
  }
}
`;

type TExec = { code: number | null; stdout: string; stderr: string };

/** One command over SSH with password authentication (what the system client cannot script). */
function passwordExec(host: string, username: string, password: string, command: string): Promise<TExec> {
  return new Promise((resolve, reject) => {
    const client = new Client();
    const out = { stdout: "", stderr: "" };
    client
      .on("ready", () => {
        client.exec(command, (err, stream) => {
          if (err) return reject(err);
          stream.on("data", (d: Buffer) => (out.stdout += d.toString()));
          stream.stderr.on("data", (d: Buffer) => (out.stderr += d.toString()));
          stream.on("close", (code: number | null) => {
            client.end();
            resolve({ code, ...out });
          });
        });
      })
      .on("error", reject)
      .connect({ host, username, password, readyTimeout: 30_000, tryKeyboard: false });
  });
}

describe("the original README's Formfile sections, built and booted", () => {
  let work: string;
  let vm: TBootedVm | undefined;
  let webdev: TSshTarget;
  let ops: TSshTarget;
  const buildLog: string[] = [];
  let fromCache = false;

  beforeAll(async () => {
    await run(["sh", "scripts/setup-host.sh", "--check"]);
    work = await mkdtemp(join(tmpdir(), "fm-readme-"));
    const ctx = join(work, "ctx");
    await mkdir(join(ctx, "app"), { recursive: true });
    await mkdir(join(ctx, "tools"), { recursive: true });
    await writeFile(join(ctx, "app/index.txt"), "app files\n");
    await writeFile(join(ctx, "config.json"), '{"mode":"prod"}\n');
    await writeFile(join(ctx, "tools/hello"), '#!/bin/sh\necho "hello from $0"\n');
    await chmod(join(ctx, "tools/hello"), 0o755);
    await writeFile(join(ctx, "my-nginx.conf"), NGINX_CONF);
    const k1 = await cachedSshKey("readme-webdev");
    const k2 = await cachedSshKey("readme-ops");
    const text = [
      "NAME readme-sections",
      `USER username:webdev passwd:webpass123 ssh_authorized_keys:"${k1.pub}" lock_passwd:false sudo:true shell:/bin/bash ssh_pwauth:true disable_root:true chpasswd_expire:true groups:docker,users`,
      `USER username:ops passwd:opspass99 ssh_authorized_keys:"${k2.pub}" lock_passwd:true shell:/bin/sh chpasswd_expire:false`,
      "USER username:pwonly passwd:pwonly123 ssh_pwauth:true chpasswd_expire:false",
      "VCPU 1",
      "MEM 1024",
      "DISK 5",
      'RUN echo "custom_setting=value" >> /etc/system.conf',
      "RUN mkdir -p /opt/chain && echo one > /opt/chain/a && rm -rf /opt/chain/none",
      "COPY ./tools /opt/tools/bin",
      // The README's `PATH=/usr/local/bin:$PATH`, with a directory in front that only COPY made.
      "ENV --scope=system PATH=/opt/tools/bin:/usr/local/bin:$PATH",
      "ENV --scope=system GREETING=hi",
      "ENV --scope=user:webdev DB_PASSWORD=secret",
      "ENV --scope=service:nginx NGINX_PORT=80",
      "RUN hello > /etc/hello-at-build",
      "COPY ./app /app",
      "COPY ./config.json /etc/myapp/config.json",
      "COPY ./my-nginx.conf /etc/nginx/nginx.conf",
      "RUN sudo systemctl restart nginx",
      "WORKDIR /app",
      'ENTRYPOINT sh -c "echo entry $GREETING $PWD > /run/entry.txt && exec sleep infinity"',
      "EXPOSE 80 443 8080",
    ].join("\n");
    ({ vm, fromCache } = await buildAndBoot({
      text,
      contextDir: ctx,
      buildId: "readme-sections",
      log: buildLog,
      user: "webdev",
      keyPath: k1.path,
    }));
    webdev = vm.target("webdev", k1.path);
    ops = vm.target("ops", k2.path);
  });

  afterAll(async () => {
    await vm?.close();
    if (work) await rm(work, { recursive: true, force: true });
  });

  const sh = async (target: TSshTarget, command: string): Promise<string> => {
    const r = await sshRun(target, command);
    if (r.exitCode !== 0) throw new Error(`ssh ${target.user}: ${command} exited ${r.exitCode}: ${r.stderr}`);
    return r.stdout.trim();
  };

  it("RUN and COPY: single and chained RUN, a directory and a file copied where the Formfile says", async () => {
    expect(await sh(webdev, "cat /etc/system.conf")).toBe("custom_setting=value");
    expect(await sh(webdev, "cat /opt/chain/a")).toBe("one");
    expect(await sh(webdev, "cat /app/index.txt /etc/myapp/config.json")).toBe('app files\n{"mode":"prod"}');
    expect(await sh(webdev, "test -x /opt/tools/bin/hello && echo x")).toBe("x");
  });

  it("ENV: system PATH expanded (build steps and sessions), user scope in the login profile, service scope in the unit", async () => {
    expect(await sh(webdev, "cat /etc/hello-at-build")).toBe("hello from /opt/tools/bin/hello");
    // A non-interactive session gets /etc/environment through pam_env: expanded, so `ls` still works.
    expect(await sh(webdev, "echo $PATH")).toBe(`/opt/tools/bin:/usr/local/bin:${SYSTEM_PATH}`);
    expect(await sh(webdev, "hello && ls -d /app")).toBe("hello from /opt/tools/bin/hello\n/app");
    expect(await sh(webdev, "bash -lc 'echo $DB_PASSWORD'")).toBe("secret");
    expect(await sh(ops, 'echo "DB_PASSWORD=$DB_PASSWORD"')).toBe("DB_PASSWORD=");
    expect(await sh(webdev, "systemctl show nginx -p Environment --value")).toBe("NGINX_PORT=80");
  });

  it("ENTRYPOINT (shell form, quotes kept) runs at boot in WORKDIR with the system ENV; EXPOSE is recorded", async () => {
    const entry = await waitFor(
      "the entrypoint's file",
      async () => (await sshRun(webdev, "cat /run/entry.txt")).stdout.trim(),
      60_000,
    );
    expect(entry).toBe("entry hi /app");
    expect(await sh(webdev, "systemctl is-active formation-entrypoint")).toBe("active");
    expect((await sh(webdev, "cat /etc/formation/expose")).split("\n")).toEqual(["80", "443", "8080"]);
  });

  it("USER: sudo, shell, groups, locked password, disable_root, several users", async () => {
    expect(await sh(webdev, "sudo -n id -u")).toBe("0");
    expect(await sh(webdev, "getent passwd webdev | cut -d: -f7")).toBe("/bin/bash");
    expect((await sh(webdev, "id -nG")).split(" ").sort()).toEqual([
      "docker",
      "sudo",
      "systemd-journal",
      "users",
      "webdev",
    ]);
    expect(await sh(ops, "getent passwd ops | cut -d: -f7")).toBe("/bin/sh");
    expect(await sh(ops, "sudo -n true 2>&1 || echo refused")).toContain("refused");
    // lock_passwd: the hash is locked ("!"), key login (above) still works, password login does not.
    expect(await sh(webdev, "sudo -n getent shadow ops | cut -d: -f2 | cut -c1")).toBe("!");
    await expect(passwordExec(vm?.ip ?? "", "ops", "opspass99", "true")).rejects.toThrow(
      /authentication methods failed/,
    );
    const root = await run(
      [
        "ssh",
        "-o",
        "BatchMode=yes",
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
      ].concat(["-i", webdev.keyPath, `root@${webdev.host}`, "true"]),
      { allowFailure: true },
    );
    expect(root.exitCode).not.toBe(0);
    expect(await sh(webdev, "sudo -n sshd -T | grep -i '^permitrootlogin'")).toBe("permitrootlogin no");
  });

  it("USER ssh_pwauth and chpasswd_expire: password login works, and an expired password must be changed first — key login is not held up", async () => {
    const plain = await passwordExec(vm?.ip ?? "", "pwonly", "pwonly123", "id -un");
    expect(plain).toMatchObject({ code: 0, stdout: "pwonly\n" });
    expect(await sh(webdev, "sudo -n chage -l webdev | grep -i '^last password change'")).toMatch(
      /password must be changed/,
    );
    // Key login of the expired user: a normal session (the console's certificate login is a key too).
    expect(await sh(webdev, "id -un")).toBe("webdev");
    const forced = await passwordExec(vm?.ip ?? "", "webdev", "webpass123", "id -un");
    expect(forced.code).not.toBe(0);
    expect(forced.stdout).not.toContain("webdev");
    expect(`${forced.stdout}${forced.stderr}`).toMatch(/password change required|must change your password/i);
  });

  it("nginx is pre-installed and running; Option 1's nginx.conf is served after the build's systemctl restart", async () => {
    expect(await sh(webdev, "systemctl is-enabled nginx; systemctl is-active nginx")).toBe("enabled\nactive");
    const body = await waitFor("nginx on port 80", () => httpGet(`http://${webdev.host}/`), 60_000);
    expect(body).toBe("served by the Formfile's nginx.conf\n");
    // The build's own log (a cache hit has none: an earlier run built the image).
    if (!fromCache)
      expect(buildLog.join("\n")).toMatch(/systemctl restart nginx.*starts when the instance boots/);
  });
});
