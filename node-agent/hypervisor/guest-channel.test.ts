import { closeSync, constants, openSync, readSync, writeSync } from "node:fs";
import { mkdtemp, open, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createGuestChannel, sendIdentity, waitGuestReady } from "./guest-channel";

/**
 * The host side of the identity channel against FIFOs held the way QEMU's `pipe` chardev holds
 * them (both O_RDWR); the test plays the guest's hook by reading `.in` and writing `.out`.
 */
describe("guest channel", () => {
  let dir: string;
  let base: string;
  let qemuIn: number;
  let qemuOut: number;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "fm-channel-"));
    base = join(dir, "identity");
    await createGuestChannel(base);
    qemuIn = openSync(`${base}.in`, constants.O_RDWR | constants.O_NONBLOCK);
    qemuOut = openSync(`${base}.out`, constants.O_RDWR);
  });
  afterEach(async () => {
    for (const fd of [qemuIn, qemuOut]) {
      try {
        closeSync(fd);
      } catch {
        // Closed by the test.
      }
    }
    await rm(dir, { recursive: true, force: true });
  });

  /** What the host wrote so far (the hook's input). */
  const received = () => {
    const buf = Buffer.alloc(65_536);
    try {
      return buf.subarray(0, readSync(qemuIn, buf)).toString();
    } catch {
      return "";
    }
  };

  it("waits for ready, skipping other lines", async () => {
    const ready = waitGuestReady(base, 5_000);
    writeSync(qemuOut, "formation-identity: noise\nready\n");
    await expect(ready).resolves.toBeUndefined();
  });

  it("sends one message and returns the hook's answer; a stale ready line is skipped", async () => {
    writeSync(qemuOut, "ready\n");
    // The message is written before sendIdentity returns its promise.
    const answer = sendIdentity(base, { now: 10, hostname: "web-1" }, 5_000);
    expect(received()).toBe("now=10\nhostname=web-1\nend\n");
    writeSync(qemuOut, "ok machine-id=abc reseeded=no\n");
    await expect(answer).resolves.toEqual({ machineId: "abc", reseeded: false });
  });

  it("says what failed in the guest", async () => {
    const answer = sendIdentity(base, { now: 10 }, 5_000);
    writeSync(qemuOut, "fail date\n");
    await expect(answer).rejects.toThrow(/identity hook failed: date/);
  });

  it("refuses an endless line from a hostile guest instead of buffering it", async () => {
    const answer = sendIdentity(base, { now: 10 }, 5_000);
    // More than a pipe holds: written from the thread pool while the event loop reads.
    const guest = await open(`${base}.out`, "r+");
    const writing = guest.write("x".repeat(100_000)).catch(() => undefined);
    await expect(answer).rejects.toThrow(/line longer than 65536 bytes/);
    await guest.close().catch(() => undefined);
    void writing;
  });

  it("gives up after its deadline when the guest is silent", async () => {
    await expect(sendIdentity(base, { now: 10 }, 200)).rejects.toThrow(/no answer .* within 200 ms/);
  });

  it("stops waiting when QEMU is gone (the FIFO has no writer left)", async () => {
    const ready = waitGuestReady(base, 10_000);
    closeSync(qemuOut);
    await expect(ready).rejects.toThrow(/channel closed/);
  });

  it("stops waiting when aborted", async () => {
    const stop = new AbortController();
    const ready = waitGuestReady(base, 10_000, stop.signal);
    stop.abort();
    await expect(ready).rejects.toThrow(/stopped waiting/);
  });
});
