import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fetchImageChain } from "../blobs/image-chain";
import { run } from "../host/exec";
import { blobFileName, checkImageInfo, ImageFormatError, readImageHeader, sha256File } from "./layers";

const HEX = "a".repeat(64);

describe("checkImageInfo", () => {
  const qcow2 = { format: "qcow2", "virtual-size": 5 << 30 };

  it("reads a layer's base digest from its backing file name", () => {
    expect(
      checkImageInfo(
        { ...qcow2, "backing-filename": `sha256-${HEX}.img`, "backing-filename-format": "qcow2" },
        "x",
      ),
    ).toEqual({ format: "qcow2", virtualSizeBytes: 5 << 30, baseDigest: `sha256:${HEX}` });
    expect(checkImageInfo(qcow2, "x").baseDigest).toBeNull();
  });

  it.each([
    ["a host path", { "backing-filename": "/etc/shadow" }],
    ["a relative path out of the store", { "backing-filename": `../sha256-${HEX}.img` }],
    ["json: options", { "backing-filename": 'json:{"file.filename":"/dev/sda"}' }],
    ["a protocol", { "backing-filename": "nbd://10.0.0.1/x" }],
    ["a raw base", { "backing-filename": `sha256-${HEX}.img`, "backing-filename-format": "raw" }],
  ])("refuses a backing file that is %s", (_what, extra) => {
    expect(() => checkImageInfo({ ...qcow2, ...extra }, "x")).toThrow(ImageFormatError);
  });

  it("refuses raw images and qcow2 with an external data file", () => {
    expect(() => checkImageInfo({ format: "raw", "virtual-size": 1 }, "x")).toThrow(/not qcow2/);
    expect(() =>
      checkImageInfo(
        { ...qcow2, "format-specific": { type: "qcow2", data: { "data-file": "/etc/shadow" } } },
        "x",
      ),
    ).toThrow(/external file/);
  });
});

describe("fetchImageChain (real qcow2 headers)", () => {
  let dir = "";
  let base = { digest: "", path: "" };
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "formation-layers-"));
    const tmp = join(dir, "base.tmp");
    await run(["qemu-img", "create", "-q", "-f", "qcow2", tmp, "16M"]);
    const { digest } = await sha256File(tmp);
    base = { digest, path: join(dir, blobFileName(digest)) };
    await run(["mv", tmp, base.path]);
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  /** A qcow2 in the store whose backing file name is `backing`; returns its digest. */
  async function storeLayer(backing: string): Promise<string> {
    const tmp = join(dir, "layer.tmp");
    await run(["qemu-img", "create", "-q", "-f", "qcow2", "-u", "-b", backing, "-F", "qcow2", tmp, "32M"]);
    const { digest } = await sha256File(tmp);
    await run(["mv", tmp, join(dir, blobFileName(digest))]);
    return digest;
  }

  const fetchFromStore = (fetched: string[]) => async (digest: string) => {
    fetched.push(digest);
    const path = join(dir, blobFileName(digest));
    return { path, sizeBytes: 1, fromCache: true };
  };

  it("fetches a layer, then the base its header names", async () => {
    const layer = await storeLayer(blobFileName(base.digest));
    const fetched: string[] = [];
    const image = await fetchImageChain({ imageDigest: layer, fetch: fetchFromStore(fetched) });
    expect(fetched).toEqual([layer, base.digest]);
    expect(image).toMatchObject({ baseDigest: base.digest, path: join(dir, blobFileName(layer)) });
    expect((await readImageHeader(image.path)).baseDigest).toBe(base.digest);
  });

  it("refuses, and removes, a layer whose backing file is a host file; fetches nothing more", async () => {
    const hostile = await storeLayer("/etc/shadow");
    const fetched: string[] = [];
    await expect(fetchImageChain({ imageDigest: hostile, fetch: fetchFromStore(fetched) })).rejects.toThrow(
      /may not be booted: .*backing file "\/etc\/shadow"/,
    );
    expect(fetched).toEqual([hostile]);
    await expect(readImageHeader(join(dir, blobFileName(hostile)))).rejects.toThrow(/cannot read/);
  });

  it("refuses a base that is itself a layer (no chains of strangers' files)", async () => {
    const inner = await storeLayer(blobFileName(base.digest));
    const outer = await storeLayer(blobFileName(inner));
    await expect(fetchImageChain({ imageDigest: outer, fetch: fetchFromStore([]) })).rejects.toThrow(
      /has a backing file itself/,
    );
  });

  it("refuses a blob that is not an image at all", async () => {
    const path = join(dir, "junk.tmp");
    await writeFile(path, "not an image");
    const { digest } = await sha256File(path);
    await run(["mv", path, join(dir, blobFileName(digest))]);
    await expect(fetchImageChain({ imageDigest: digest, fetch: fetchFromStore([]) })).rejects.toThrow(
      /not qcow2|cannot read/,
    );
  });
});
