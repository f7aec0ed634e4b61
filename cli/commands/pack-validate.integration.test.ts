import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ZFormfile } from "../../lib/formfile/canonical";
import { verifySha512Crypt } from "../../lib/formfile/sha512-crypt";
import { runForm, type TFormRun } from "../testing";

const EXAMPLE = fileURLToPath(new URL("../../examples/hello-server", import.meta.url));

/** Runs the real `form` binary as a child process, from `cwd`. */
function form(args: string[], cwd: string, env: Record<string, string> = {}): Promise<TFormRun> {
  return runForm({ args, cwd, env });
}

describe("form pack validate (child process)", () => {
  let dir = "";
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "form-validate-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("a binary Formfile gets one error and no raw control bytes on the terminal", async () => {
    const binary = join(dir, "binary");
    await mkdir(binary);
    const garbage = Buffer.from(Array.from({ length: 600 }, (_, i) => (i * 37 + 11) % 256));
    await writeFile(join(binary, "Formfile"), Buffer.concat([Buffer.from("NAME x\n\u001b[2J"), garbage]));
    const { code, stdout, stderr } = await form(["pack", "validate", binary], dir);
    expect(code).not.toBe(0);
    const printed = stdout + stderr;
    expect([...printed].filter((c) => (c.codePointAt(0) ?? 0) < 0x20 && c !== "\n")).toEqual([]);
    expect(printed.trim().split("\n")).toHaveLength(1);
    expect(printed).toContain("Formfile:2:1: the Formfile contains the control character U+001B");
  });

  it("a 3 MB Formfile is told the Formfile limit, not to shrink the build context", async () => {
    const big = join(dir, "big");
    await mkdir(big);
    const body = `NAME big\nUSER username:dev passwd:secret\n${"RUN echo hello\n".repeat(200_000)}`;
    await writeFile(join(big, "Formfile"), body);
    const { code, stdout, stderr } = await form(["pack", "validate", big], dir);
    expect(code).not.toBe(0);
    expect(stdout + stderr).toMatch(/the Formfile is 2\.\d MiB; a Formfile may be at most 256 KiB/);
    expect(stdout + stderr).not.toContain("build context smaller");
  });

  it("pack build of a 3 MB Formfile stops before any upload with the Formfile limit", async () => {
    const big = join(dir, "big-build");
    await mkdir(big);
    await writeFile(
      join(big, "Formfile"),
      `NAME big\nUSER username:dev passwd:secret\n${"RUN echo hello\n".repeat(200_000)}`,
    );
    // No kit configured and no console: the Formfile is refused before either is needed.
    const { code, stdout, stderr } = await form(["pack", "build", big], dir, {
      FORMKIT: join(dir, "no-kit"),
    });
    expect(code).not.toBe(0);
    expect(stdout + stderr).toMatch(/the Formfile is 2\.\d MiB; a Formfile may be at most 256 KiB/);
    expect(stdout + stderr).not.toMatch(/build context smaller|kit init|console/);
  });

  it("accepts the example directory and prints a summary", async () => {
    const { code, stdout, stderr } = await form(["pack", "validate", EXAMPLE], dir);
    // The example ships with a placeholder key to replace: a warning, not an error.
    expect(stderr.trim().split("\n")).toEqual([
      expect.stringMatching(/Formfile:5:\d+: warning: "ssh-rsa \.\.\." looks like a placeholder/),
    ]);
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
