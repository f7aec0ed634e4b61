import { readFile } from "node:fs/promises";
import { applyInstanceAccess, removeInstanceAccess } from "@/core/formnet/access";
import type {
  TBootPayload,
  TInstanceActionPayload,
  TJobResult,
  TPrefetchPayload,
  TStopPayload,
} from "@/lib/protocol";
import { fetchBlob } from "../../blobs/fetch-blob";
import { fetchImageChain, type TFetchedImage } from "../../blobs/image-chain";
import { withConsolePatience } from "../../blobs/patience";
import { imagePathFor, type TDataPaths } from "../../config/paths";
import { rethrowDiskFull } from "../../host/disk-full";
import type { Hypervisor, TVmInfo, TVmNetwork } from "../../hypervisor/types";
import { JobFailure } from "../job-error";
import type { TJobContext } from "../types";
import { waitForSshBanner } from "./ssh-ready";

export interface TInstanceExecutorDeps {
  paths: TDataPaths;
  consoleUrl: string;
  token: (signal: AbortSignal) => Promise<string>;
  /**
   * This node's formnet address once formnet is up (waiting a little for it after a start): images
   * are then fetched from peer nodes too.
   */
  formnetAddress?: () => Promise<string | undefined>;
  hypervisor: Hypervisor;
  network: TVmNetwork;
  sshReadyTimeoutMs: number;
  /** Port probed for the sshd banner (22; tests point it at a local listener). */
  sshPort?: number;
  /**
   * Host firewall for an instance: only its owner's formnet peers may open connections to it.
   * Injected so unit tests with a test-double hypervisor need no iptables.
   */
  access: {
    apply: (options: { vmIp: string; allowedSources: string[]; bridge: string }) => Promise<unknown>;
    remove: (options: { vmIp: string; bridge: string }) => Promise<void>;
  };
}

export const iptablesAccess: TInstanceExecutorDeps["access"] = {
  apply: applyInstanceAccess,
  remove: removeInstanceAccess,
};

/**
 * Fetches a boot's image by digest into the store, unless the store has it already, and the base it
 * is a layer of (node-agent/blobs/image-chain.ts): in pieces from the nodes that hold them, the
 * console last (node-agent/blobs/fetch-blob.ts), with progress in the job's log.
 */
async function fetchImage(
  deps: Pick<TInstanceExecutorDeps, "paths" | "consoleUrl" | "token" | "formnetAddress">,
  ctx: TJobContext,
  payload: { imageUrl: string; imageDigest: string },
) {
  ctx.progress("fetching", `image ${payload.imageDigest}`);
  const problems = new Set<string>();
  return fetchImageChain({
    imageDigest: payload.imageDigest,
    onBase: (digest) => ctx.log(`image ${payload.imageDigest} is a layer over base ${digest}`),
    fetch: async (digest) => {
      let lastTenth = -1;
      const blob = await withConsolePatience(
        async () =>
          fetchBlob({
            digest,
            blobUrl: digest === payload.imageDigest ? payload.imageUrl : undefined,
            consoleUrl: deps.consoleUrl,
            destPath: imagePathFor(deps.paths, digest),
            token: await deps.token(ctx.signal),
            localAddress: await deps.formnetAddress?.(),
            signal: ctx.signal,
            onProgress: (held, size) => {
              const tenth = Math.floor((10 * held) / Math.max(1, size));
              if (tenth === lastTenth || size < 32 << 20) return;
              lastTenth = tenth;
              ctx.progress("fetching", `${digest.slice(0, 19)}… ${mib(held)} of ${mib(size)} MiB`);
            },
            onPeerProblem: (peer, problem) => {
              const line = `${peer}: ${problem}`;
              if (problems.has(line)) return;
              problems.add(line);
              ctx.log(`fetching ${digest}: ${line}`);
            },
          }),
        {
          signal: ctx.signal,
          onRetry: (error) => ctx.log(`console unreachable (${error.message}); fetching ${digest} again…`),
        },
      );
      const { path: _path, ...figures } = blob;
      ctx.logger.info(figures, "blob fetched");
      return blob;
    },
  });
}

/** What fetching an image cost, as logged and as a prefetch result reports it. */
function transferFigures(image: TFetchedImage) {
  const { fromCache, sizeBytes, fetchedBytes, peerBytes } = image;
  return { fromCache, sizeBytes, fetchedBytes, peerBytes };
}

const mib = (bytes: number) => (bytes / (1 << 20)).toFixed(0);

/**
 * Prefetch job: this node is a likely host of a replacement replica of the image (the console
 * picks it), so the image is fetched now and a later boot here starts without a download.
 */
export function prefetchExecutor(
  deps: Pick<TInstanceExecutorDeps, "paths" | "consoleUrl" | "token" | "formnetAddress"> &
    Partial<Pick<TInstanceExecutorDeps, "hypervisor" | "network">>,
) {
  return async (ctx: TJobContext, payload: TPrefetchPayload): Promise<TJobResult> => {
    const image = await fetchImage(deps, ctx, payload);
    const figures = transferFigures(image);
    ctx.logger.info(figures, "image prefetched");
    // A heal here would restore from the image's snapshot instead of booting: make it now.
    let snapshot: boolean | undefined;
    if (payload.vm && deps.hypervisor?.prepareSnapshot && deps.network) {
      ctx.progress("snapshotting", `${payload.vm.vcpu} vCPU, ${payload.vm.memoryMb} MB`);
      const made = await deps.hypervisor
        .prepareSnapshot({ imagePath: image.path, ...payload.vm, network: deps.network })
        .catch((error: unknown) => {
          // The image is here either way; a heal then boots cold.
          ctx.log(`no snapshot of the image: ${errorText(error)}`);
          return null;
        });
      snapshot = made !== null;
      if (made) ctx.log(`snapshot ${made.key} of the image ready for a replacement replica`);
    }
    return { kind: "prefetch", ...figures, ...(snapshot === undefined ? {} : { snapshot }) };
  };
}

/**
 * Boot job: fetch the image by digest unless the store has it, create and start the VM with its
 * formnet IP as its own address, admit only the owner's peers, and report `running` once sshd
 * answers. Re-running a boot for an instance that already exists resumes it instead of failing.
 */
export function bootExecutor(deps: TInstanceExecutorDeps) {
  return async (ctx: TJobContext, payload: TBootPayload): Promise<TJobResult> => {
    const { instanceId, formnetIp } = payload;
    const log = ctx.logger.child({ instanceId });
    const image = await fetchImage(deps, ctx, payload);
    log.info(transferFigures(image), "image ready");

    ctx.progress(
      "booting",
      `${payload.vcpu} vCPU, ${payload.memoryMb} MB, ${payload.diskGb} GB at ${formnetIp}`,
    );
    ctx.instanceStatus({ instanceId, status: "booting", formnetIp });
    let vm = await deps.hypervisor.get(instanceId);
    if (!vm) {
      // Its directory and state file are written under `vms/`; a full disk there is said so.
      vm = await deps.hypervisor
        .create({
          instanceId,
          imagePath: image.path,
          vcpu: payload.vcpu,
          memoryMb: payload.memoryMb,
          diskGb: payload.diskGb,
          ipv4: formnetIp,
          network: deps.network,
        })
        .catch(rethrowDiskFull(deps.paths.vms));
    } else if (vm.ipv4 !== formnetIp) {
      throw new JobFailure({
        message: `instance ${instanceId} already exists here with address ${vm.ipv4}, not ${formnetIp}`,
      });
    }
    await deps.access.apply({
      vmIp: formnetIp,
      allowedSources: payload.ownerPeers.map((peer) => peer.ip),
      bridge: deps.network.bridge,
    });
    try {
      vm = await deps.hypervisor.start(instanceId);
      ctx.log(`VM started (pid ${vm.pid ?? "?"}); waiting for sshd on ${formnetIp}:${deps.sshPort ?? 22}`);
      const banner = await waitForSshBanner({
        host: formnetIp,
        port: deps.sshPort ?? 22,
        timeoutMs: deps.sshReadyTimeoutMs,
        signal: ctx.signal,
      });
      ctx.log(`sshd answered: ${banner}`);
    } catch (error) {
      // A VM that never became reachable only burns the operator's CPU: stop it, keep its disk and
      // serial log for diagnosis, and tell the user what the console printed.
      await deps.hypervisor.stop(instanceId, { timeoutMs: 5_000 }).catch(() => undefined);
      const tail = await serialTail(vm);
      ctx.instanceStatus({ instanceId, status: "failed", formnetIp, reason: errorText(error) });
      throw new JobFailure({
        message: `VM ${instanceId} did not become reachable${tail ? `; serial console tail:\n${tail}` : ""}`,
        cause: error,
      });
    }
    ctx.instanceStatus({ instanceId, status: "running", formnetIp });
    return { kind: "boot", formnetIp };
  };
}

/**
 * stop / start / restart / delete: one hypervisor call each, with the status before and after. A
 * stop with `suspend` keeps the guest's memory (status `suspended`); a start of a suspended VM
 * resumes it, and the same sshd wait says when it answers again.
 */
export function lifecycleExecutors(deps: TInstanceExecutorDeps) {
  const withVm = async (instanceId: string): Promise<TVmInfo> => {
    const vm = await deps.hypervisor.get(instanceId);
    if (!vm) throw new JobFailure({ message: `instance ${instanceId} does not exist on this node` });
    return vm;
  };
  /**
   * stop {suspend}: the hypervisor pauses the guest and saves its memory and device state beside its
   * disk. A VM already suspended is done (the console may retry a job whose result it missed); one
   * that is not running has no memory to keep.
   */
  const suspendVm = async (ctx: TJobContext, vm: TVmInfo): Promise<TJobResult> => {
    const { instanceId } = vm;
    if (vm.status !== "suspended") {
      if (vm.status !== "running") {
        throw new JobFailure({
          message: `instance ${instanceId} is ${vm.status}, not running: there is no guest memory to save (start it first, or stop it without suspending)`,
        });
      }
      ctx.progress("stopping", "suspend: saving the guest's memory");
      ctx.log(
        `suspending VM ${instanceId}: pausing the guest and saving its memory and device state to disk`,
      );
      ctx.instanceStatus({ instanceId, status: "stopping", formnetIp: vm.ipv4 });
      await deps.hypervisor.stop(instanceId, { suspend: true });
      ctx.log(`VM ${instanceId} suspended: a start resumes it from its saved memory`);
    }
    ctx.instanceStatus({ instanceId, status: "suspended", formnetIp: vm.ipv4 });
    return { kind: "stop", suspended: true };
  };
  return {
    stop: async (ctx: TJobContext, { instanceId, suspend }: TStopPayload): Promise<TJobResult> => {
      const vm = await withVm(instanceId);
      if (suspend) return suspendVm(ctx, vm);
      ctx.progress("stopping");
      ctx.instanceStatus({ instanceId, status: "stopping", formnetIp: vm.ipv4 });
      await deps.hypervisor.stop(instanceId);
      ctx.instanceStatus({ instanceId, status: "stopped", formnetIp: vm.ipv4 });
      return { kind: "stop" };
    },
    start: async (ctx: TJobContext, { instanceId }: TInstanceActionPayload): Promise<TJobResult> => {
      const vm = await withVm(instanceId);
      if (vm.status === "suspended") {
        ctx.progress("starting", "resuming from saved memory");
        ctx.log(`resuming VM ${instanceId} from its saved memory (its processes carry on where they were)`);
      } else {
        ctx.progress("starting");
      }
      await deps.hypervisor.start(instanceId);
      await waitForSshBanner({
        host: vm.ipv4,
        port: deps.sshPort ?? 22,
        timeoutMs: deps.sshReadyTimeoutMs,
        signal: ctx.signal,
      });
      ctx.instanceStatus({ instanceId, status: "running", formnetIp: vm.ipv4 });
      return { kind: "start" };
    },
    restart: async (ctx: TJobContext, { instanceId }: TInstanceActionPayload): Promise<TJobResult> => {
      const vm = await withVm(instanceId);
      ctx.progress("stopping", "restart");
      ctx.instanceStatus({ instanceId, status: "booting", formnetIp: vm.ipv4 });
      await deps.hypervisor.restart(instanceId);
      ctx.progress("starting", "restart");
      await waitForSshBanner({
        host: vm.ipv4,
        port: deps.sshPort ?? 22,
        timeoutMs: deps.sshReadyTimeoutMs,
        signal: ctx.signal,
      });
      ctx.instanceStatus({ instanceId, status: "running", formnetIp: vm.ipv4 });
      return { kind: "restart" };
    },
    delete: async (ctx: TJobContext, { instanceId }: TInstanceActionPayload): Promise<TJobResult> => {
      const vm = await deps.hypervisor.get(instanceId);
      ctx.progress("deleting");
      // Deleting what is already gone succeeds: the console may retry a delete whose result it missed.
      if (vm) {
        await deps.hypervisor.delete(instanceId);
        await deps.access.remove({ vmIp: vm.ipv4, bridge: deps.network.bridge });
      }
      ctx.instanceStatus({ instanceId, status: "deleted" });
      return { kind: "delete" };
    },
  };
}

async function serialTail(vm: TVmInfo): Promise<string> {
  const text = await readFile(vm.serialLogPath, "utf8").catch(() => "");
  return text.split("\n").slice(-20).join("\n").trim().slice(-2_000);
}

function errorText(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).slice(0, 1_900);
}
