import { rm } from "node:fs/promises";
import { ImageFormatError, readImageHeader } from "../image/layers";
import { BlobError } from "./errors";

export type TFetchedBlob = { path: string; sizeBytes: number; fromCache: boolean };

export type TFetchedImage = {
  /** The image a VM's overlay is backed by (the layer). */
  path: string;
  /** Its base, stored beside it under its blob name; null for a self-contained image. */
  baseDigest: string | null;
  /** Bytes of the layer and its base. */
  sizeBytes: number;
  /** Bytes this fetch transferred (0 when the node held both). */
  fetchedBytes: number;
  fromCache: boolean;
};

/**
 * Fetches an image and, when it is a layer, the base its header names, each by digest into the
 * node's store (where the layer's backing file name resolves). Both headers are checked before the
 * image may be booted: a layer may name only a base blob, a base nothing (readImageHeader).
 */
export async function fetchImageChain(opts: {
  imageDigest: string;
  fetch: (digest: string) => Promise<TFetchedBlob>;
  onBase?: (digest: string) => void;
}): Promise<TFetchedImage> {
  const layer = await opts.fetch(opts.imageDigest);
  const header = await checked(layer.path, opts.imageDigest);
  const fetched = layer.fromCache ? 0 : layer.sizeBytes;
  if (header.baseDigest === null)
    return {
      path: layer.path,
      baseDigest: null,
      sizeBytes: layer.sizeBytes,
      fetchedBytes: fetched,
      fromCache: layer.fromCache,
    };
  opts.onBase?.(header.baseDigest);
  const base = await opts.fetch(header.baseDigest);
  const baseHeader = await checked(base.path, header.baseDigest);
  if (baseHeader.baseDigest !== null) {
    await rm(base.path, { force: true });
    throw new BlobError({
      code: "invalid",
      url: base.path,
      message: `base ${header.baseDigest} of image ${opts.imageDigest} has a backing file itself; a base must be self-contained`,
    });
  }
  return {
    path: layer.path,
    baseDigest: header.baseDigest,
    sizeBytes: layer.sizeBytes + base.sizeBytes,
    fetchedBytes: fetched + (base.fromCache ? 0 : base.sizeBytes),
    fromCache: layer.fromCache && base.fromCache,
  };
}

/** The header of a verified blob; a blob that may not be booted is removed from the store. */
async function checked(path: string, digest: string) {
  try {
    return await readImageHeader(path);
  } catch (error) {
    if (!(error instanceof ImageFormatError)) throw error;
    await rm(path, { force: true });
    throw new BlobError({
      code: "invalid",
      url: path,
      message: `image ${digest} may not be booted: ${error.message}`,
      cause: error,
    });
  }
}
