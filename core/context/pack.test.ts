import {
  chmod,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  readlink,
  rm,
  symlink,
  utimes,
  writeFile,
} from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { minimalFormfile } from "@/lib/formfile/testing";
import type { TFormfile } from "../../lib/formfile/canonical";
import { packContext } from "./pack";
import { unpackContext } from "./unpack";

let work = "";
let ctx = "";
beforeEach(async () => {
  work = await mkdtemp(join(tmpdir(), "ctx-pack-"));
  ctx = join(work, "project");
  await mkdir(join(ctx, "app/static"), { recursive: true });
  await writeFile(join(ctx, "Formfile"), "NAME x\n");
  await writeFile(join(ctx, "app/server.py"), "print('hello')\n");
  await writeFile(join(ctx, "app/run.sh"), "#!/bin/sh\n");
  await chmod(join(ctx, "app/run.sh"), 0o700);
  await writeFile(join(ctx, "app/static/index.html"), "<h1>hi</h1>\n");
  await writeFile(join(ctx, "app/debug.log"), "noise\n");
  await writeFile(join(ctx, "notes.txt"), "not copied\n");
});
afterEach(async () => {
  await rm(work, { recursive: true, force: true });
});

function formfileWith(copies: Array<[string, string]>): TFormfile {
  return minimalFormfile({
    name: "t",
    steps: copies.map(([src, dst], i) => ({ kind: "copy", src, dst, line: i + 1 })),
  });
}

async function tree(dir: string, prefix = ""): Promise<string[]> {
  const out: string[] = [];
  for (const e of (await readdir(dir, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const rel = `${prefix}${e.name}`;
    if (e.isDirectory()) out.push(`${rel}/`, ...(await tree(join(dir, e.name), `${rel}/`)));
    else if (e.isSymbolicLink()) out.push(`${rel} -> ${await readlink(join(dir, e.name))}`);
    else out.push(rel);
  }
  return out;
}

describe("packContext", () => {
  it("packs only COPY sources, honours .formignore and round-trips through unpackContext", async () => {
    await writeFile(join(ctx, ".formignore"), "*.log\n");
    const packed = await packContext({ dir: ctx, formfile: formfileWith([["app", "/app"]]) });
    expect(packed.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(packed.files).toBe(3);
    expect(packed.bytes).toBe(15 + 10 + 12);
    const dest = join(work, "out");
    await unpackContext({ tarGz: packed.tarGz, destDir: dest });
    expect(await tree(dest)).toEqual([
      "app/",
      "app/run.sh",
      "app/server.py",
      "app/static/",
      "app/static/index.html",
    ]);
  });

  it("packs the whole context (minus .git) when there is no COPY", async () => {
    await mkdir(join(ctx, ".git"));
    await writeFile(join(ctx, ".git/HEAD"), "ref\n");
    const packed = await packContext({ dir: ctx, formfile: formfileWith([]) });
    const dest = join(work, "out");
    await unpackContext({ tarGz: packed.tarGz, destDir: dest });
    expect(await tree(dest)).toContain("notes.txt");
    expect(await tree(dest)).toContain("Formfile");
    expect(await tree(dest)).not.toContain(".git/");
  });

  it("is deterministic: same content gives the same digest regardless of mtimes and permissions noise", async () => {
    const formfile = formfileWith([
      ["app", "/app"],
      ["./notes.txt", "/etc/notes"],
    ]);
    const a = await packContext({ dir: ctx, formfile });
    await utimes(join(ctx, "app/server.py"), new Date(1e12), new Date(1e12));
    await chmod(join(ctx, "app/server.py"), 0o600);
    const b = await packContext({ dir: ctx, formfile });
    expect(b.digest).toBe(a.digest);
    expect(b.tarGz.equals(a.tarGz)).toBe(true);
    await writeFile(join(ctx, "app/server.py"), "print('hello!')\n");
    expect((await packContext({ dir: ctx, formfile })).digest).not.toBe(a.digest);
  });

  it("writes fixed tar headers: mtime 0, uid/gid 0, modes 0644/0755, sorted names", async () => {
    const { tarGz } = await packContext({ dir: ctx, formfile: formfileWith([["app", "/app"]]) });
    expect(tarGz.readUInt32LE(4)).toBe(0); // gzip mtime
    const tarBytes = gunzipSync(tarGz);
    const headers: Array<{ name: string; mode: string; mtime: string; uid: string }> = [];
    for (let off = 0; off + 512 <= tarBytes.length; off += 512) {
      const block = tarBytes.subarray(off, off + 512);
      if (block.every((b) => b === 0)) break;
      const field = (start: number, len: number) =>
        block
          .subarray(start, start + len)
          .toString("latin1")
          .replace(/\0.*$/s, "")
          .trim();
      const size = Number.parseInt(field(124, 12) || "0", 8);
      headers.push({ name: field(0, 100), mode: field(100, 8), uid: field(108, 8), mtime: field(136, 12) });
      off += Math.ceil(size / 512) * 512;
    }
    expect(headers.map((h) => h.name)).toEqual([
      "app",
      "app/debug.log",
      "app/run.sh",
      "app/server.py",
      "app/static",
      "app/static/index.html",
    ]);
    expect(new Set(headers.map((h) => Number.parseInt(h.mtime, 8)))).toEqual(new Set([0]));
    expect(new Set(headers.map((h) => Number.parseInt(h.uid, 8)))).toEqual(new Set([0]));
    expect(headers.map((h) => Number.parseInt(h.mode, 8))).toEqual([
      0o755, 0o644, 0o755, 0o644, 0o755, 0o644,
    ]);
  });

  it("stores inside symlinks re-pointed at their real target and packs the target too", async () => {
    await symlink("../notes.txt", join(ctx, "app/notes"));
    await symlink("static", join(ctx, "app/www"));
    await symlink(join(ctx, "app/server.py"), join(ctx, "app/absolute"));
    const packed = await packContext({ dir: ctx, formfile: formfileWith([["app", "/app"]]) });
    const dest = join(work, "out");
    await unpackContext({ tarGz: packed.tarGz, destDir: dest });
    const listing = await tree(dest);
    expect(listing).toContain("app/notes -> ../notes.txt");
    expect(listing).toContain("app/www -> static");
    expect(listing).toContain("app/absolute -> server.py");
    expect(listing).toContain("notes.txt");
    expect(await readFile(join(dest, "app/notes"), "utf8")).toBe("not copied\n");
  });

  it("round-trips long (pax) and non-ASCII names", async () => {
    const deep = join(ctx, "app", "d".repeat(120), "e".repeat(120));
    await mkdir(deep, { recursive: true });
    await writeFile(join(deep, "ünïcødé-файл.txt"), "long\n");
    const packed = await packContext({ dir: ctx, formfile: formfileWith([["app", "/app"]]) });
    const dest = join(work, "out");
    await unpackContext({ tarGz: packed.tarGz, destDir: dest });
    expect(
      await readFile(join(dest, "app", "d".repeat(120), "e".repeat(120), "ünïcødé-файл.txt"), "utf8"),
    ).toBe("long\n");
  });

  it.each([
    ["a symlink leaving the context", "../../outside", "SYMLINK_ESCAPE"],
    ["an absolute symlink leaving the context", "/etc/passwd", "SYMLINK_ESCAPE"],
    ["a dangling symlink", "missing-file", "SYMLINK_DANGLING"],
  ])("refuses %s", async (_name, target, code) => {
    await symlink(target, join(ctx, "app/link"));
    await expect(packContext({ dir: ctx, formfile: formfileWith([["app", "/app"]]) })).rejects.toMatchObject({
      code,
    });
  });

  it("refuses COPY sources reached through a symlinked directory", async () => {
    await mkdir(join(work, "outside"));
    await writeFile(join(work, "outside/secret"), "s3cret\n");
    await symlink("../outside", join(ctx, "out"));
    await symlink("app", join(ctx, "alias"));
    await expect(
      packContext({ dir: ctx, formfile: formfileWith([["out/secret", "/x"]]) }),
    ).rejects.toMatchObject({
      code: "SYMLINK_ESCAPE",
    });
    await expect(
      packContext({ dir: ctx, formfile: formfileWith([["alias/server.py", "/x"]]) }),
    ).rejects.toMatchObject({
      code: "COPY_SOURCE_THROUGH_SYMLINK",
      message: expect.stringContaining("app/server.py"),
    });
  });

  it("explains a missing or ignored COPY source", async () => {
    await expect(packContext({ dir: ctx, formfile: formfileWith([["nope", "/x"]]) })).rejects.toMatchObject({
      code: "COPY_SOURCE_MISSING",
      message: expect.stringContaining("COPY nope (Formfile line 1)"),
    });
    await writeFile(join(ctx, ".formignore"), "notes.txt\n");
    await expect(
      packContext({ dir: ctx, formfile: formfileWith([["notes.txt", "/x"]]) }),
    ).rejects.toMatchObject({
      code: "COPY_SOURCE_IGNORED",
    });
  });
});
