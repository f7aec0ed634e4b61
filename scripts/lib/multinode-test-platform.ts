// One warm multinode platform shared by the multinode tests (the vitest suite and the Playwright
// spec): `npm test` starts it once through the README's own start command and passes its handle in
// FORMATION_TEST_MULTINODE; a multinode test file run on its own starts one for itself.
import { type ChildProcess, spawn } from "node:child_process";
import { createHash, randomBytes, randomInt } from "node:crypto";
import { createWriteStream, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import { waitFor } from "../../core/formnet/command";
import { publicKeyOf } from "../../core/formnet/keys";
import { MultinodeNetwork } from "../../core/netns/multinode-network";
import { consoleMemberRef, formnetInterfaceName } from "../../lib/formnet/naming";
import { seedTestConsoleCa } from "../../server/testing/console-ca";

const root = resolve(fileURLToPath(new URL("../..", import.meta.url)));

export const ZMultinodeHandle = z.object({
  url: z.string(),
  port: z.number(),
  dataDir: z.string(),
  nodes: z.number(),
  prefix: z.string(),
  underlayCidr: z.string(),
  formnetCidr: z.string(),
  offlineMs: z.number(),
  rebootDelayMs: z.number(),
  logPath: z.string(),
});
export type TMultinodeHandle = z.infer<typeof ZMultinodeHandle>;

/**
 * The wallet of the multinode tests' developer (CLI and browser alike). Fixed, so its Formfiles
 * (passwords are salted per owner) are byte-identical from run to run and their images are builder
 * cache hits on a warm machine.
 */
export const MULTINODE_USER_KEY =
  `0x${createHash("sha256").update("formation multinode test user").digest("hex")}` as const;

export type TMultinodePlatform = TMultinodeHandle & {
  network: MultinodeNetwork;
  /** Stops the platform if this process started it; a shared one is left to its owner. */
  stop(): Promise<void>;
};

export const MULTINODE_HANDLE_ENV = "FORMATION_TEST_MULTINODE";

/** The shared platform named by FORMATION_TEST_MULTINODE, or a new one started for this process. */
export async function useMultinodePlatform(options: { nodes?: number } = {}): Promise<TMultinodePlatform> {
  const path = process.env[MULTINODE_HANDLE_ENV];
  if (path) return attach(ZMultinodeHandle.parse(JSON.parse(readFileSync(path, "utf8"))), async () => {});
  return startMultinodePlatform(options);
}

function attach(handle: TMultinodeHandle, stop: () => Promise<void>): TMultinodePlatform {
  const network = MultinodeNetwork.attach({
    nodes: handle.nodes,
    prefix: handle.prefix,
    underlayCidr: handle.underlayCidr,
  });
  return { ...handle, network, stop };
}

/**
 * Starts `FORMATION_NODES=<nodes> node scripts/start.mjs` on its own ports, data directory, netns
 * prefix, underlay and formnet blocks (so it never collides with another platform on this machine)
 * and resolves when every node host's agent is connected.
 */
export async function startMultinodePlatform(
  options: {
    nodes?: number;
    handlePath?: string;
    /** More environment of the platform (over the defaults below), e.g. a bench's GC settings. */
    env?: Record<string, string>;
  } = {},
): Promise<TMultinodePlatform> {
  const nodes = options.nodes ?? 4;
  const suffix = randomBytes(3).toString("hex");
  const dataDir = mkdtempSync(join(tmpdir(), "formation-multinode-"));
  const port = 36_000 + randomInt(2_000) * 2;
  const handle: TMultinodeHandle = {
    url: `http://localhost:${port}`,
    port,
    dataDir,
    nodes,
    prefix: `fmt-${suffix}`,
    underlayCidr: `198.19.${randomInt(256)}.0/24`,
    formnetCidr: `10.${100 + randomInt(100)}.0.0/16`,
    offlineMs: 15_000,
    rebootDelayMs: 20_000,
    logPath: join(dataDir, "platform.log"),
  };
  const env: Record<string, string> = {
    PORT: String(port),
    CHAIN_PORT: String(port + 1),
    FORMATION_DATA_DIR: dataDir,
    FORMATION_NODES: String(nodes),
    FORMATION_NETNS_PREFIX: handle.prefix,
    FORMATION_UNDERLAY_CIDR: handle.underlayCidr,
    FORMATION_FORMNET_CIDR: handle.formnetCidr,
    FORMATION_CONSOLE_FORMNET_PORT: String(40_000 + randomInt(20_000)),
    FORMATION_CONSOLE_FORMNET_TABLE: String(10_000 + randomInt(50_000)),
    FORMATION_NODE_OFFLINE_MS: String(handle.offlineMs),
    FORMATION_HOST_REBOOT_DELAY_MS: String(handle.rebootDelayMs),
    // The machine's builder and image caches are shared with every other test agent.
    FORMATION_AGENT_IMAGES_KEEP_RECENT: "10000",
    // Browser specs sign in from 127.0.0.1 many times.
    FORMATION_LIMIT_AUTH_PER_IP: "1000",
    // Each node host would boot a snapshot template VM after its first boot of every image: on the
    // two cores CI has, three of those at once delayed the console's offline detection past a
    // crashed host's reboot (ci55). The suite's timings assume cold boots; snapshot restores are
    // tested on real QEMU (node-agent/hypervisor/snapshot.integration.test.ts) and measured here
    // by `bench/multinode-bench.ts --snapshots on`.
    FORMATION_AGENT_VM_SNAPSHOTS: "off",
    NEXT_TELEMETRY_DISABLED: "1",
    ...options.env,
  };
  seedTestConsoleCa(dataDir);
  const log = createWriteStream(handle.logPath, { flags: "a" });
  const child = spawn(process.execPath, [join(root, "scripts/start.mjs")], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ["pipe", "pipe", "pipe"],
    detached: true,
  });
  await waitUntilReady(child, log, handle.logPath);
  if (options.handlePath) writeFileSync(options.handlePath, JSON.stringify(handle));
  return attach(handle, async () => {
    await stopPlatform(child);
    // The node hosts' disks (images, VM disks: ~2 GB a run) go; the logs and the database stay.
    await rm(join(dataDir, "nodes"), { recursive: true, force: true });
  });
}

function waitUntilReady(child: ChildProcess, log: NodeJS.WritableStream, logPath: string): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    let ready = false;
    const timer = setTimeout(
      () => reject(new Error(`the multinode platform was not ready within 15 min (log: ${logPath})`)),
      15 * 60_000,
    );
    for (const stream of [child.stdout, child.stderr]) {
      if (!stream) continue;
      createInterface({ input: stream }).on("line", (line) => {
        log.write(`${line}\n`);
        if (!ready && line.startsWith("[start] platform ready")) {
          ready = true;
          clearTimeout(timer);
          resolvePromise();
        }
      });
    }
    child.once("exit", (code) => {
      clearTimeout(timer);
      if (!ready)
        reject(
          new Error(`the multinode platform exited (code ${code}) before it was ready (log: ${logPath})`),
        );
    });
  });
}

/** SIGTERM to start.mjs: it stops the services and tears the network down. */
async function stopPlatform(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.pid === undefined) return;
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 180_000);
  await exited;
  clearTimeout(timer);
}

/**
 * Ctrl-C or a kill of a bench: stops `platform` (its namespaces, VMs, WireGuard) and runs
 * `cleanUp` before the process goes, so nothing of it outlives the bench.
 */
export function stopOnInterrupt(
  platform: TMultinodePlatform,
  opts: { say(line: string): void; cleanUp?: () => Promise<void> },
): void {
  for (const signal of ["SIGINT", "SIGTERM"] as const)
    process.once(signal, () => {
      opts.say(`${signal}: stopping the platform`);
      void platform
        .stop()
        .finally(() => opts.cleanUp?.())
        .finally(() => process.exit(130));
    });
}

/** The WireGuard interface of the console member whose data directory is `dataDir`. */
export async function consoleMemberInterface(dataDir: string): Promise<string> {
  const key = publicKeyOf((await readFile(join(dataDir, "formnet", "wg.key"), "utf8")).trim());
  return formnetInterfaceName({ role: "console", id: consoleMemberRef(key) });
}

/** Waits until the console at `url` answers `/healthz` (after a restart by its supervisor). */
export async function consoleAnswers(url: string, timeoutMs = 180_000): Promise<void> {
  await waitFor(
    "the console answering /healthz",
    async () =>
      (await fetch(`${url}/healthz`)
        .then((r) => r.ok)
        .catch(() => false)) || undefined,
    { timeoutMs, intervalMs: 100 },
  );
}
