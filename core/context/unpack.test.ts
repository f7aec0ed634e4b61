import { mkdir, mkdtemp, readdir, readFile, readlink, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ContextError, type TContextErrorCode } from "./errors";
import { makeArchive } from "./test-archives";
import { unpackContext } from "./unpack";

let sandbox = "";
beforeEach(async () => {
  sandbox = await mkdtemp(join(tmpdir(), "ctx-unpack-"));
});
afterEach(async () => {
  await rm(sandbox, { recursive: true, force: true });
});

async function expectRejected(tarGz: Buffer, code: TContextErrorCode, limits = {}): Promise<void> {
  const destDir = join(sandbox, "dest");
  const error = await unpackContext({ tarGz, destDir, limits }).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ContextError);
  expect((error as ContextError).code).toBe(code);
  // Nothing at all is left in the sandbox: no dest, no temp dir, no escaped file.
  expect(await readdir(sandbox)).toEqual([]);
}

const file = (name: string, body = "x") => ({ header: { name, type: "file" as const, mode: 0o644 }, body });

describe("unpackContext", () => {
  it("extracts files, directories and inside symlinks with fixed modes", async () => {
    const tarGz = await makeArchive([
      { header: { name: "app", type: "directory" } },
      { header: { name: "app/run.sh", type: "file", mode: 0o4755 }, body: "#!/bin/sh\n" },
      file("app/server.py", "print('hi')\n"),
      { header: { name: "app/current", type: "symlink", linkname: "server.py" } },
      { header: { name: "link-up", type: "symlink", linkname: "app/../app/server.py" } },
    ]);
    const destDir = join(sandbox, "dest");
    const result = await unpackContext({ tarGz, destDir });
    expect(result).toEqual({ files: 2, directories: 1, symlinks: 2, bytes: 22 });
    expect(await readFile(join(destDir, "app/server.py"), "utf8")).toBe("print('hi')\n");
    expect(await readlink(join(destDir, "app/current"))).toBe("server.py");
    const { mode } = await import("node:fs/promises").then((fs) => fs.stat(join(destDir, "app/run.sh")));
    expect(mode & 0o7777).toBe(0o755);
    expect(await readdir(sandbox)).toEqual(["dest"]);
  });

  it("accepts an existing empty destination but refuses a non-empty one", async () => {
    const tarGz = await makeArchive([file("a")]);
    const destDir = join(sandbox, "dest");
    await mkdir(destDir);
    await unpackContext({ tarGz, destDir });
    await expect(unpackContext({ tarGz, destDir })).rejects.toMatchObject({ code: "DEST_NOT_EMPTY" });
  });

  it.each<[string, Parameters<typeof makeArchive>[0], TContextErrorCode]>([
    ["path traversal", [file("ok"), file("../evil")], "UNSAFE_PATH"],
    ["deep traversal", [file("a/../../evil")], "UNSAFE_PATH"],
    ["absolute path", [file("/tmp/evil")], "UNSAFE_PATH"],
    ["backslash path", [file("..\\evil")], "UNSAFE_PATH"],
    [
      "symlink escaping",
      [{ header: { name: "l", type: "symlink", linkname: "../../etc/passwd" } }],
      "SYMLINK_ESCAPE",
    ],
    [
      "absolute symlink",
      [{ header: { name: "l", type: "symlink", linkname: "/etc/passwd" } }],
      "SYMLINK_ESCAPE",
    ],
    [
      "symlink chained through another symlink",
      [
        { header: { name: "here", type: "symlink", linkname: "." } },
        { header: { name: "sub/l", type: "symlink", linkname: "../here/../../evil" } },
      ],
      "SYMLINK_ESCAPE",
    ],
    [
      "file written through a symlinked directory",
      [{ header: { name: "d", type: "symlink", linkname: "." } }, file("d/x")],
      "UNSAFE_PATH",
    ],
    ["hard link", [file("a"), { header: { name: "b", type: "link", linkname: "a" } }], "HARDLINK"],
    [
      "character device",
      [{ header: { name: "null", type: "character-device", devmajor: 1, devminor: 3 } }],
      "SPECIAL_FILE",
    ],
    ["fifo", [{ header: { name: "pipe", type: "fifo" } }], "SPECIAL_FILE"],
    ["duplicate file", [file("a"), file("a")], "DUPLICATE_ENTRY"],
  ])("rejects %s and writes nothing", async (_name, entries, code) => {
    await expectRejected(await makeArchive(entries), code);
  });

  it("rejects too many files", async () => {
    const entries = Array.from({ length: 11 }, (_, i) => file(`f${i}`));
    await expectRejected(await makeArchive(entries), "TOO_MANY_FILES", { maxFiles: 10 });
  });

  it("rejects an archive expanding beyond maxBytes", async () => {
    const random = new Uint8Array(200_000);
    globalThis.crypto.getRandomValues(random.subarray(0, 65_536));
    await expectRejected(
      await makeArchive([{ header: { name: "big", type: "file" }, body: random }]),
      "TOO_LARGE",
      {
        maxBytes: 100_000,
      },
    );
  });

  it("rejects a compression bomb by ratio", async () => {
    const zeros = new Uint8Array(4 * 1024 * 1024);
    const tarGz = await makeArchive([{ header: { name: "zeros", type: "file" }, body: zeros }]);
    await expectRejected(tarGz, "RATIO_EXCEEDED", { ratioMinBytes: 1024 * 1024 });
  });

  it("rejects garbage and truncated archives", async () => {
    await expectRejected(Buffer.from("definitely not gzip"), "CORRUPT_ARCHIVE");
    const good = await makeArchive([file("a", "y".repeat(5000))]);
    await expectRejected(good.subarray(0, good.length - 20), "CORRUPT_ARCHIVE");
  });
});
