import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { unpackContext } from "@/core/context/unpack";
import { packBrowserContext, readFileFromTarball, writeTar } from "./context-pack";

const enc = (s: string) => new TextEncoder().encode(s);

describe("packBrowserContext", () => {
  it("produces an archive the console's safe unpacker accepts, with the same files", async () => {
    const files = [
      { path: "Formfile", data: enc("NAME web\n") },
      { path: "src/app/main.sh", data: enc("#!/bin/sh\necho hi\n"), executable: true },
      { path: `deep/${"d".repeat(60)}/${"e".repeat(60)}/file.txt`, data: enc("long path") },
      { path: ".git/HEAD", data: enc("ref: main") },
      { path: "secret.env", data: enc("KEY=1") },
      { path: ".formignore", data: enc("*.env\n") },
    ];
    const packed = await packBrowserContext(files);
    expect(packed.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(packed.files).toBe(4);
    const dir = await mkdtemp(join(tmpdir(), "ctx-"));
    try {
      await unpackContext({ tarGz: Buffer.from(packed.tarGz), destDir: join(dir, "out") });
      expect(await readFile(join(dir, "out/src/app/main.sh"), "utf8")).toContain("echo hi");
      expect(
        await readFile(join(dir, "out", `deep/${"d".repeat(60)}/${"e".repeat(60)}/file.txt`), "utf8"),
      ).toBe("long path");
      await expect(readFile(join(dir, "out/secret.env"))).rejects.toThrow();
      await expect(readFile(join(dir, "out/.git/HEAD"))).rejects.toThrow();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("is deterministic regardless of input order", async () => {
    const a = await packBrowserContext([
      { path: "b", data: enc("2") },
      { path: "a/x", data: enc("1") },
    ]);
    const b = await packBrowserContext([
      { path: "a/x", data: enc("1") },
      { path: "./b", data: enc("2") },
    ]);
    expect(a.digest).toBe(b.digest);
  });

  it("refuses paths that climb out of the context", async () => {
    await expect(packBrowserContext([{ path: "../etc/passwd", data: enc("x") }])).rejects.toThrow(/\.\./);
  });

  it("reads a file back out of a tarball", async () => {
    const packed = await packBrowserContext([{ path: "dir/Formfile", data: enc("NAME x\n") }]);
    const found = await readFileFromTarball(packed.tarGz, "dir/Formfile");
    expect(found && new TextDecoder().decode(found)).toBe("NAME x\n");
    expect(await readFileFromTarball(writeTar([{ path: "a", data: enc("") }]), "Formfile")).toBeNull();
  });
});
