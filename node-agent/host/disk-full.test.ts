import { writeFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { FormationError } from "@/lib/errors";
import { DiskFullError, diskFullError, rethrowDiskFull } from "./disk-full";

/** A real ENOSPC from the kernel: every write to /dev/full fails with it. */
async function enospc(): Promise<Error> {
  const error = await writeFile("/dev/full", "x").catch((e: unknown) => e);
  if (!(error instanceof Error)) throw new Error("a write to /dev/full succeeded");
  return error;
}

/** An error shaped like Node's system errors, for codes the test cannot provoke. */
function systemError(code: string): Error {
  return Object.assign(new Error(`${code}: test, write`), { code });
}

describe("diskFullError", () => {
  it("maps ENOSPC to a DiskFullError that says where and what the operator can do", async () => {
    const cause = await enospc();
    const error = diskFullError(cause, "/var/lib/formation/node-agent/images");
    expect(error).toBeInstanceOf(DiskFullError);
    expect(error).toMatchObject({
      code: "DISK_FULL",
      errno: "ENOSPC",
      path: "/var/lib/formation/node-agent/images",
      cause,
    });
    expect(error?.message).toBe(
      "the node's disk is full (/var/lib/formation/node-agent/images): free space on that disk " +
        "(lower images.keepRecent in the node agent's agent.json so the image GC keeps fewer unused " +
        "images — it runs when the agent starts and after each build — or delete instances and files " +
        "this node no longer needs), then retry",
    );
  });

  it("maps EDQUOT to a spent quota", () => {
    const error = diskFullError(systemError("EDQUOT"), "/data");
    expect(error).toMatchObject({ errno: "EDQUOT" });
    expect(error?.message).toMatch(/^the node's disk quota is used up \(\/data\): free space/);
  });

  it("finds the system error under wrappers and keeps it, not the wrapper, as the cause", async () => {
    const cause = await enospc();
    const wrapped = new FormationError("CORRUPT_ARCHIVE", "the build context is not a valid tar archive", {
      cause,
    });
    const error = diskFullError(wrapped, "/data/builds/x");
    expect(error).toMatchObject({ code: "DISK_FULL", path: "/data/builds/x" });
    expect(error?.cause).toBe(cause);
  });

  it("returns an existing DiskFullError unchanged, so the innermost path wins", async () => {
    const inner = new DiskFullError({ path: "/data/images", errno: "ENOSPC", cause: await enospc() });
    expect(diskFullError(new Error("outer", { cause: inner }), "/data")).toBe(inner);
  });

  it("returns null for every other error", () => {
    expect(diskFullError(systemError("EACCES"), "/data")).toBeNull();
    expect(diskFullError(new Error("plain"), "/data")).toBeNull();
    expect(diskFullError("ENOSPC", "/data")).toBeNull();
    expect(diskFullError(undefined, "/data")).toBeNull();
  });
});

describe("rethrowDiskFull", () => {
  it("rethrows a full disk as a DiskFullError and anything else as it was", async () => {
    await expect(writeFile("/dev/full", "x").catch(rethrowDiskFull("/dev"))).rejects.toBeInstanceOf(
      DiskFullError,
    );
    const other = systemError("EACCES");
    await expect(Promise.reject(other).catch(rethrowDiskFull("/data"))).rejects.toBe(other);
  });
});
