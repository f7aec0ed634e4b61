import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseFormfile } from "@/lib/formfile";
import type { TFormfile } from "@/lib/formfile/canonical";
import { run } from "../../host/exec";
import { expandEnvValue } from "../render";
import {
  BUILD_PATH,
  driverScript,
  JOB_DIR,
  renderBuildJob,
  SKIP_RESIZE_FILE,
  stepFile,
  systemEnv,
} from "./job";
import { BUILD_MARK } from "./protocol";

function parse(text: string): TFormfile {
  const r = parseFormfile(text);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.formfile;
}

describe("build job rendering", () => {
  // biome-ignore lint/suspicious/noTemplateCurlyInString: the shell syntax under test
  it("expands $NAME and ${NAME} against the environment so far, nothing else", () => {
    const env = { PATH: "/usr/bin:/bin", HOME: "/root" };
    expect(expandEnvValue("/usr/local/bin:$PATH", env)).toBe("/usr/local/bin:/usr/bin:/bin");
    // biome-ignore lint/suspicious/noTemplateCurlyInString: the shell syntax under test
    expect(expandEnvValue("${HOME}/x:$UNKNOWN:y", env)).toBe("/root/x::y");
    expect(expandEnvValue("$(id) `id` $", env)).toBe("$(id) `id` $");
  });

  it("system ENV builds on the build PATH and on earlier ENV lines", () => {
    const f = parse(
      [
        "NAME e",
        "USER username:dev passwd:pw",
        "ENV --scope=system PATH=/usr/local/bin:$PATH",
        "ENV --scope=system APP=/srv/app",
        // biome-ignore lint/suspicious/noTemplateCurlyInString: the shell syntax under test
        "ENV --scope=system DATA=${APP}/data",
      ].join("\n"),
    );
    expect(systemEnv(f)).toEqual({
      PATH: `/usr/local/bin:${BUILD_PATH}`,
      APP: "/srv/app",
      DATA: "/srv/app/data",
    });
  });

  it("one step per Formfile instruction, in order, with lines, around platform phases", () => {
    const f = parse(
      ["NAME s", "USER username:dev passwd:pw", "INSTALL curl", "COPY sub /data", "RUN make all"].join("\n"),
    );
    const job = renderBuildJob({
      formfile: f,
      copySources: new Map([["sub", { rel: "sub", isDir: true }]]),
    });
    expect(job.steps.map((s) => [s.label, s.line, s.user])).toEqual([
      ["prepare", null, false],
      ["USER dev", null, true],
      ["INSTALL curl", 3, true],
      ["COPY sub /data", 4, true],
      ["RUN make all", 5, true],
      ["image configuration", null, true],
      ["clean-up", null, false],
    ]);
    expect(Object.keys(job.files)).toContain("steps/006.sh");
    expect(job.steps[4]?.script).toContain("make all");
    expect(job.steps.map((s) => s.number)).toEqual([undefined, undefined, 1, 2, 3, undefined, undefined]);
  });

  it("copies the whole context to WORKDIR when the Formfile has no COPY", () => {
    const f = parse(["NAME c", "USER username:dev passwd:pw", "WORKDIR /srv/w", "RUN true"].join("\n"));
    const job = renderBuildJob({ formfile: f, copySources: new Map([[".", { rel: ".", isDir: true }]]) });
    expect(job.steps.map((s) => s.label)).toContain("COPY . /srv/w");
  });

  it("refuses to render a COPY whose source the host did not resolve", () => {
    const f = parse(["NAME c", "USER username:dev passwd:pw", "COPY a /a"].join("\n"));
    expect(() => renderBuildJob({ formfile: f, copySources: new Map() })).toThrow(/not resolved/);
  });

  it("tells the VM's init to skip the resize only when DISK is the base's size", () => {
    const f = parse(["NAME c", "USER username:dev passwd:pw"].join("\n"));
    const sources = new Map([[".", { rel: ".", isDir: true }]]);
    expect(renderBuildJob({ formfile: f, copySources: sources, growFs: false }).files).toHaveProperty(
      SKIP_RESIZE_FILE,
    );
    expect(renderBuildJob({ formfile: f, copySources: sources, growFs: true }).files).not.toHaveProperty(
      SKIP_RESIZE_FILE,
    );
    expect(renderBuildJob({ formfile: f, copySources: sources }).files).not.toHaveProperty(SKIP_RESIZE_FILE);
  });

  it("the driver frames each step with markers and stops at the first failure", async () => {
    const steps = ["echo one", "exit 4", "echo never"].map((script, i) => ({
      label: `s${i}`,
      line: null,
      user: true,
      script,
    }));
    // Same text as in the VM, with the job directory in a temporary directory.
    const dir = await mkdtemp(join(tmpdir(), "fm-job-driver-"));
    await mkdir(join(dir, "steps"));
    for (const [i, s] of steps.entries()) {
      await writeFile(join(dir, stepFile(i)), s.script);
    }
    const text = driverScript(steps).replaceAll(JOB_DIR, dir);
    const r = await run(["/bin/sh", "-c", text], { allowFailure: true });
    await rm(dir, { recursive: true, force: true });
    expect(r.exitCode).toBe(4);
    expect(r.stdout.split("\n").filter(Boolean)).toEqual([
      `${BUILD_MARK} begin 0`,
      "one",
      `${BUILD_MARK} end 0 0`,
      `${BUILD_MARK} begin 1`,
      `${BUILD_MARK} end 1 4`,
    ]);
  });
});
