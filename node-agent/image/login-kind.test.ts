import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { run } from "../host/exec";
import { LOGIN_KIND_SCRIPT } from "./guest-files";

/**
 * The pam_exec helper as sshd's PAM stacks run it: both calls from one parent process (sshd's
 * connection process there, a shell here), with the marks in a temporary directory.
 */
describe("login-kind (sshd's pam_exec helper)", () => {
  let dir: string;
  let script: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "fm-login-kind-"));
    script = join(dir, "login-kind");
    await writeFile(script, LOGIN_KIND_SCRIPT.replace("/run/formation-password-logins", join(dir, "marks")));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const calls = (kinds: string[]) =>
    run(["/bin/sh", "-c", kinds.map((k) => `/bin/sh "$0" ${k}; echo "${k}=$?"`).join("; "), script]);

  it("lets a key login through when the connection did not log in with a password", async () => {
    expect((await calls(["key"])).stdout.trim()).toBe("key=0");
  });

  it("makes the account check of a password login go on to pam_unix, once", async () => {
    const out = (await calls(["password", "key", "key"])).stdout.trim().split("\n");
    expect(out).toEqual(["password=0", "key=1", "key=0"]);
  });

  it("names the mark after the parent's pid and start time (field 22 of /proc/PID/stat)", async () => {
    const r = await run([
      "/bin/sh",
      "-c",
      `/bin/sh "$0" password; cut -d' ' -f22 /proc/$$/stat; echo $$`,
      script,
    ]);
    const [start, pid] = r.stdout.trim().split("\n");
    expect(await readdir(join(dir, "marks"))).toEqual([`${pid}-${start}`]);
  });

  it("refuses an unknown kind", async () => {
    expect((await calls(["other"])).stdout.trim()).toBe("other=1");
  });
});
