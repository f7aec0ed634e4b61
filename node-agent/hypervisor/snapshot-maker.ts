import { rm } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "@/core/log";
import { run } from "../host/exec";
import { createOverlay } from "../image/layers";
import { waitGuestReady } from "./guest-channel";
import { saveVmState } from "./migration";
import { channelBase, vmFiles } from "./qemu-args";
import type { SnapshotStore, TSnapshot, TSnapshotShape } from "./snapshots";
import type { TVmSpec, TVmState } from "./types";

/** How long a template VM may take to finish its boot (TCG, a busy node). */
const TEMPLATE_BOOT_MS = 5 * 60_000;

export type TTemplateLaunch = (state: TVmState, opts: { nic: "none" }) => Promise<number>;

/**
 * Makes the snapshot of `shape`: boots a template VM of the image (throwaway host key, placeholder
 * address, a NIC wired to nothing, confined like any VM), waits for its identity hook to say the
 * boot finished, saves its RAM and devices, ends it and keeps its disk overlay beside the state.
 * Nothing of any instance is in it: no instance's key, address, logs or data ever ran there.
 */
export async function makeSnapshot(opts: {
  store: SnapshotStore;
  shape: TSnapshotShape;
  spec: TVmSpec;
  chrootDir: string;
  launch: TTemplateLaunch;
  kill: (state: TVmState) => Promise<void>;
  log: Logger;
  /** Aborted when the hypervisor closes: the template is ended and nothing is kept. */
  signal: AbortSignal;
}): Promise<TSnapshot> {
  const { shape, spec } = opts;
  const dir = await opts.store.workDir();
  const state: TVmState = {
    spec: {
      ...spec,
      instanceId: `template-${dir.slice(-6)}`,
      hostname: "formation-template",
      ipv4: "169.254.42.2",
      rootAuthorizedKeys: [],
      restartPolicy: "never",
    },
    status: "created",
    pid: null,
    // Never created (the NIC is wired to nothing); it names the template's cgroup.
    tap: `fmtpl${dir.slice(-6).replace(/[^A-Za-z0-9]/g, "x")}`,
    mac: "52:54:00:00:00:02",
    ...vmFiles(dir),
    hostKeyPublic: "",
    startedAt: null,
    restarts: [],
  };
  const started = Date.now();
  try {
    await createOverlay({ backing: spec.imagePath, path: state.overlayPath, sizeGb: spec.diskGb });
    await run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "template", "-f", state.hostKeyPath]);
    state.pid = await opts.launch(state, { nic: "none" });
    await waitGuestReady(channelBase(state), TEMPLATE_BOOT_MS, opts.signal);
    const booted = Date.now();
    const saved = await saveVmState({
      qmpPath: state.qmpPath,
      chrootDir: opts.chrootDir,
      name: state.tap,
      outFile: join(dir, "state.bin"),
      timeoutMs: 120_000,
    });
    await opts.kill(state);
    if (opts.signal.aborted) throw new Error("the hypervisor closed while the snapshot was made");
    // Only the snapshot's two files stay: the throwaway key and the template's logs go.
    for (const f of [
      "ssh_host_ed25519_key",
      "ssh_host_ed25519_key.pub",
      "serial.log",
      "qemu.pid",
      "qmp.sock",
    ])
      await rm(join(dir, f), { force: true });
    await rm(`${channelBase(state)}.in`, { force: true });
    await rm(`${channelBase(state)}.out`, { force: true });
    const snapshot = await opts.store.commit(dir, shape);
    opts.log.info(
      {
        snapshot: snapshot.key,
        image: spec.imagePath,
        bootMs: booted - started,
        saveMs: Date.now() - booted,
        stateBytes: saved.bytes,
        diskBytes: snapshot.meta.disk.bytes,
      },
      "snapshot made",
    );
    return snapshot;
  } catch (err) {
    if (state.pid !== null) await opts.kill(state).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}
