import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseFormfile } from "@/lib/formfile/parse";
import { packContext } from "./pack";
import { readContextFile } from "./read-file";

describe("readContextFile", () => {
  it("reads the Formfile back out of a packed context and answers null for a missing file", async () => {
    const dir = await mkdtemp(join(tmpdir(), "ctx-read-"));
    try {
      const text = "NAME read-back\nUSER username:dev passwd:x\n";
      await writeFile(join(dir, "Formfile"), text);
      await writeFile(join(dir, "app.txt"), "hello");
      const parsed = parseFormfile(text);
      if (!parsed.ok) throw new Error("invalid");
      const packed = await packContext({ dir, formfile: parsed.formfile });
      const got = await readContextFile({ tarGz: packed.tarGz, path: "Formfile", maxBytes: 1024 });
      expect(new TextDecoder().decode(got ?? new Uint8Array())).toBe(text);
      expect(await readContextFile({ tarGz: packed.tarGz, path: "nope", maxBytes: 1024 })).toBeNull();
      expect(await readContextFile({ tarGz: packed.tarGz, path: "app.txt", maxBytes: 2 })).toBeNull();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
