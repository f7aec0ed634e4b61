import { rm } from "node:fs/promises";
import { ImageFormatError, readImageHeader } from "../image/layers";
import { BlobError } from "./errors";

export type TFetchedBlob = {
  path: string;
  sizeBytes: number;
  fromCache: boolean;
  /** Bytes this fetch received (less than sizeBytes after a resume); sizeBytes when unsaid. */
  fetchedBytes?: number;
  /** Of those, bytes from peer nodes rather than the console. */
  peerBytes?: number;
};

export type TFetchedImage = {
  /** The image a VM's overlay is backed by (the layer). */
  path: string;
  /** Its base, stored beside it under its blob name; null for a self-contained image. */
  baseDigest: string | null;
  /** Bytes of the layer and its base. */
  sizeBytes: number;
  /** Bytes this fetch transferred (0 when the node held both). */
  fetchedBytes: number;
  /** Of those, bytes from peer nodes (the rest came from the console). */
  peerBytes: number;
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
  if (header.baseDigest === null)
    return {
      path: layer.path,
      baseDigest: null,
      sizeBytes: layer.sizeBytes,
      fetchedBytes: fetchedOf(layer),
      peerBytes: layer.peerBytes ?? 0,
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
    fetchedBytes: fetchedOf(layer) + fetchedOf(base),
    peerBytes: (layer.peerBytes ?? 0) + (base.peerBytes ?? 0),
    fromCache: layer.fromCache && base.fromCache,
  };
}

function fetchedOf(blob: TFetchedBlob): number {
  return blob.fromCache ? 0 : (blob.fetchedBytes ?? blob.sizeBytes);
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
