import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { prepareSerialLog } from "./serial-log-file";

let dir = "";
afterEach(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("prepareSerialLog", () => {
  it("leaves a first boot's log empty and marks every later boot after the earlier output", async () => {
    dir = await mkdtemp(join(tmpdir(), "serial-"));
    const path = join(dir, "serial.log");
    await prepareSerialLog({ path });
    expect(await readFile(path, "utf8")).toBe("");
    await writeFile(path, "boot 1 output");
    await prepareSerialLog({ path, now: new Date("2026-12-06T12:00:00Z") });
    expect(await readFile(path, "utf8")).toBe(
      "boot 1 output\n──── VM started at 2026-12-06T12:00:00.000Z (earlier boots above) ────\n",
    );
  });

  it("rotates a log past the limit to .1 and starts a fresh one", async () => {
    dir = await mkdtemp(join(tmpdir(), "serial-"));
    const path = join(dir, "serial.log");
    await writeFile(path, "x".repeat(2048));
    await prepareSerialLog({ path, rotateBytes: 1024 });
    expect((await stat(`${path}.1`)).size).toBe(2048);
    expect(await readFile(path, "utf8")).toMatch(/^\n──── VM started at /);
  });
});
