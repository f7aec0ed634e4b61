import { isAbsolute, join } from "node:path";
import type { TAgentConfig } from "./schema";

/**
 * Layout of the agent's data directory. Everything the agent persists lives under one root so an
 * operator can back it up, move it or wipe it as a unit.
 */
export interface TDataPaths {
  root: string;
  config: string;
  keystore: string;
  /** One JSON file per job the agent has accepted; survives restarts so `hello` can report them. */
  jobs: string;
  /** Content-addressed VM images (`sha256-<hex>.img`), built here or fetched from the console. */
  images: string;
  /** Per-build scratch space (unpacked context, builder work dirs), removed after each build. */
  builds: string;
  /** Hypervisor state: per-VM disks, pid files, monitor sockets. */
  vms: string;
  /** Last known state of a running agent, read by `node-agent status`. */
  status: string;
}

export function dataPaths(dataDir: string, config?: Pick<TAgentConfig, "operator">): TDataPaths {
  const keystore = config?.operator.keystorePath ?? "keystore.json";
  return {
    root: dataDir,
    config: join(dataDir, "agent.json"),
    keystore: isAbsolute(keystore) ? keystore : join(dataDir, keystore),
    jobs: join(dataDir, "jobs"),
    images: join(dataDir, "images"),
    builds: join(dataDir, "builds"),
    vms: join(dataDir, "vms"),
    status: join(dataDir, "status.json"),
  };
}

/** Where an image with `digest` (`sha256:<hex>` or bare hex) lives in the local image store. */
export function imagePathFor(paths: TDataPaths, digest: string): string {
  return join(paths.images, blobFileName(digest));
}

/** File name of the blob with `digest`: the agent store's names and a layer's backing file name. */
export function blobFileName(digest: string): string {
  return `sha256-${digestHex(digest)}.img`;
}

/** A blob's file name (blobFileName); group 1 is the digest's hex. */
export const BLOB_FILE_NAME = /^sha256-([0-9a-f]{64})\.img$/;

/** Bare lowercase hex of a `sha256:<hex>` or `<hex>` digest; throws on anything else. */
export function digestHex(digest: string): string {
  const hex = digest.startsWith("sha256:") ? digest.slice("sha256:".length) : digest;
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) throw new TypeError(`not a sha256 digest: ${digest}`);
  return hex.toLowerCase();
}
