import { mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "@/core/log";
import { MAX_SERIAL_BYTES, type TSerialReply } from "@/lib/protocol";
import { answerSerialRequest, readSerialSlice } from "./serial-log";

let dir: string;
const log = createLogger("serial-log-test");

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "serial-log-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("readSerialSlice", () => {
  it("reads the tail, then only what is new from the returned end", async () => {
    const path = join(dir, "a.log");
    await writeFile(path, "0123456789");
    const tail = await readSerialSlice({ path, maxBytes: 4 });
    expect(tail).toEqual({ data: "6789", offset: 6, end: 10, size: 10 });
    await writeFile(path, "0123456789abc");
    expect(await readSerialSlice({ path, maxBytes: 100, offset: tail.end })).toEqual({
      data: "abc",
      offset: 10,
      end: 13,
      size: 13,
    });
    expect(await readSerialSlice({ path, maxBytes: 100, offset: 13 })).toMatchObject({ data: "", end: 13 });
  });

  it("reads a log that does not exist yet as empty", async () => {
    expect(await readSerialSlice({ path: join(dir, "missing.log"), maxBytes: 10 })).toEqual({
      data: "",
      offset: 0,
      end: 0,
      size: 0,
    });
  });

  it("never cuts a UTF-8 character in half at either end", async () => {
    const path = join(dir, "utf8.log");
    // "✓" is 3 bytes (e2 9c 93); a 4-byte tail of "a✓b" starts inside nothing, a 3-byte one inside ✓.
    await writeFile(path, "a✓b");
    expect(await readSerialSlice({ path, maxBytes: 3 })).toMatchObject({ data: "b", offset: 4, end: 5 });
    // Half a character at the end (the VM is mid-write) waits for the next read.
    await writeFile(path, Buffer.concat([Buffer.from("ok "), Buffer.from("✓").subarray(0, 2)]));
    const partial = await readSerialSlice({ path, maxBytes: 100, offset: 0 });
    expect(partial).toMatchObject({ data: "ok ", end: 3, size: 5 });
    await writeFile(path, "ok ✓\n");
    expect(await readSerialSlice({ path, maxBytes: 100, offset: partial.end })).toMatchObject({
      data: "✓\n",
      end: 7,
    });
  });

  it("caps a read at MAX_SERIAL_BYTES", async () => {
    const path = join(dir, "big.log");
    await writeFile(path, "x".repeat(MAX_SERIAL_BYTES * 2));
    const slice = await readSerialSlice({ path, maxBytes: MAX_SERIAL_BYTES * 4 });
    expect(slice.data.length).toBe(MAX_SERIAL_BYTES);
    expect(slice.offset).toBe(MAX_SERIAL_BYTES);
  });

  it("refuses symlinks and non-files (a guest cannot point the agent elsewhere)", async () => {
    const target = join(dir, "secret");
    await writeFile(target, "private key");
    const link = join(dir, "link.log");
    await symlink(target, link);
    await expect(readSerialSlice({ path: link, maxBytes: 10 })).rejects.toThrow(/ELOOP|symbolic/);
    await expect(readSerialSlice({ path: dir, maxBytes: 10 })).rejects.toThrow(/not a regular file/);
  });
});

describe("answerSerialRequest", () => {
  const request = {
    type: "instance.serial.request" as const,
    requestId: "r-1",
    instanceId: "i-1",
    maxBytes: 100,
  };

  async function answer(lookup: (id: string) => Promise<{ serialLogPath: string } | null>) {
    const sent: TSerialReply[] = [];
    await answerSerialRequest({ request, lookup, send: (r) => sent.push(r) > 0, log });
    expect(sent).toHaveLength(1);
    return sent[0];
  }

  it("answers with the hosted VM's log", async () => {
    const path = join(dir, "vm.log");
    await writeFile(path, "login: ");
    const reply = await answer(async (id) => (id === "i-1" ? { serialLogPath: path } : null));
    expect(reply).toEqual({
      type: "instance.serial.reply",
      requestId: "r-1",
      instanceId: "i-1",
      data: "login: ",
      offset: 0,
      end: 7,
      size: 7,
    });
  });

  it("answers unknownInstance for an instance this agent does not host", async () => {
    const reply = await answer(async () => null);
    expect(reply).toMatchObject({ data: "", size: 0, error: { code: "unknownInstance" } });
  });

  it("answers unreadable (and still replies) when the log cannot be read", async () => {
    const reply = await answer(async () => ({ serialLogPath: dir }));
    expect(reply).toMatchObject({ data: "", error: { code: "unreadable" } });
    expect(reply?.error?.message).toMatch(/not a regular file/);
  });
});
