import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ZFormfile } from "../../lib/formfile/canonical";
import { verifySha512Crypt } from "../../lib/formfile/sha512-crypt";

const BIN = fileURLToPath(new URL("../bin.mjs", import.meta.url));
const EXAMPLE = fileURLToPath(new URL("../../examples/hello-server", import.meta.url));

/** Runs the real `form` binary as a child process, from `cwd`. */
function form(args: string[], cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { cwd }, (error, stdout, stderr) => {
      const code = error && typeof error.code === "number" ? error.code : error ? -1 : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

describe("form pack validate (child process)", () => {
  let dir = "";
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "form-validate-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("accepts the example directory and prints a summary", async () => {
    const { code, stdout, stderr } = await form(["pack", "validate", EXAMPLE], dir);
    expect(stderr).toBe("");
    expect(code).toBe(0);
    expect(stdout).toContain("hello-server");
    expect(stdout).toContain("2 vCPU, 2048 MB memory, 5 GB disk");
  });

  it("--json prints the canonical form with the password hashed", async () => {
    const { code, stdout } = await form(["pack", "validate", `${EXAMPLE}/Formfile`, "--json"], dir);
    expect(code).toBe(0);
    const formfile = ZFormfile.parse(JSON.parse(stdout));
    expect(formfile).toMatchObject({
      name: "hello-server",
      resources: { vcpu: 2, memoryMb: 2048, diskGb: 5, gpu: null },
      workdir: "/app",
      entrypoint: ["python3", "server.py"],
      expose: [8080],
      steps: [
        { kind: "copy", src: "app", dst: "/app" },
        { kind: "install", packages: ["python3"] },
      ],
    });
    expect(stdout).not.toContain("webpass123");
    expect(verifySha512Crypt("webpass123", formfile.users[0]?.passwdHash ?? "")).toBe(true);
  });

  it("defaults PATH to the working directory", async () => {
    const { code, stdout } = await form(["pack", "validate", "--json"], EXAMPLE);
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({ name: "hello-server" });
  });

  it("reports every error as PATH:LINE:COLUMN: message on stderr and exits 1", async () => {
    const file = join(dir, "Formfile");
    await writeFile(file, "NAME ok\nINSTAL python3\nUSER username:dev passwd:pw\nVCPU 0\n");
    const { code, stdout, stderr } = await form(["pack", "validate", dir], dir);
    expect(code).toBe(1);
    expect(stdout).toBe("");
    expect(stderr.trimEnd().split("\n")).toEqual([
      `${file}:2:1: unknown instruction INSTAL — did you mean INSTALL?`,
      `${file}:4:6: VCPU 0 is out of range: allowed 1–128 cores — use a value between 1 and 128`,
    ]);
  });

  it("prints warnings on stderr but still exits 0", async () => {
    const file = join(dir, "Warn.formfile");
    await writeFile(file, "USER username:dev passwd:pw\nEXPOSE 80 80\n");
    const { code, stdout, stderr } = await form(["pack", "validate", file, "--json"], dir);
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({ expose: [80] });
    expect(stderr).toBe(`${file}:2:11: warning: port 80 is exposed more than once — remove the duplicate\n`);
  });

  it("warns about COPY sources missing from the build context", async () => {
    const file = join(dir, "Copy.formfile");
    await writeFile(file, "USER username:dev passwd:pw\n  COPY ./nope /app\n");
    const { code, stderr } = await form(["pack", "validate", file], dir);
    expect(code).toBe(0);
    expect(stderr).toBe(
      `${file}:2:8: warning: COPY source nope does not exist in the build context ${dir}\n`,
    );
  });

  it("enforces devnet limits with --policy devnet", async () => {
    const file = join(dir, "Big.formfile");
    await writeFile(file, "USER username:dev passwd:pw\nMEM 8192\n");
    expect((await form(["pack", "validate", file], dir)).code).toBe(0);
    const { code, stderr } = await form(["pack", "validate", file, "--policy", "devnet"], dir);
    expect(code).toBe(1);
    expect(stderr).toMatch(new RegExp(`^${file}:2:5: MEM 8192 exceeds the devnet limit`));
  });

  it("explains a missing file or a directory without a Formfile", async () => {
    const missing = await form(["pack", "validate", join(dir, "nope")], dir);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("no such file or directory");
    const empty = await mkdtemp(join(dir, "empty-"));
    const noFormfile = await form(["pack", "validate", empty], dir);
    expect(noFormfile.code).toBe(1);
    expect(noFormfile.stderr).toContain(`no Formfile in ${empty}`);
  });
});
