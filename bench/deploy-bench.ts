/**
 * Issue #5 figure: deploy-to-running time of the original README's example Formfile
 * (examples/hello-server: COPY ./app, INSTALL python3, VCPU 2, MEM 2048) end to end through the
 * console's control plane, with real node-agent processes and real QEMU VMs:
 * build create → queued → claimed → building → built → ship → distributing → booting → running →
 * every replica answers an SSH login with the Formfile user's key.
 *
 *   flock /tmp/formation-heavy.lock npx tsx bench/deploy-bench.ts [--agents 1] [--replicas N] [--warm]
 *
 * `--warm` reuses a cached image of the same inputs (otherwise a fresh file in the context forces a
 * real build on the warm Debian base). Needs root and the host packages (scripts/setup-host.sh).
 */
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Client } from "ssh2";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { packContext } from "@/core/context";
import { parseFormfile } from "@/lib/formfile";
import { DEFAULT_CACHE_DIR } from "@/node-agent/config/schema";
import {
  cleanBuilderCache,
  createFleetAgent,
  startFleetAgent,
  type TFleetAgent,
  teardownFleet,
  waitForNodeId,
} from "@/node-agent/testing/agent-fleet";
import { startTestPlatform, type TTestPlatform } from "@/server/testing/platform";

const { values } = parseArgs({
  options: {
    agents: { type: "string", default: "1" },
    replicas: { type: "string" },
    warm: { type: "boolean", default: false },
  },
});
const agentCount = Number(values.agents);
const replicas = Number(values.replicas ?? values.agents);
const root = new URL("..", import.meta.url).pathname;
const print = (line: string) => process.stdout.write(`${line}\n`);

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not reached within ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** One SSH login as the Formfile's user with its key; resolves on success, rejects otherwise. */
function sshLogin(opts: { host: string; username: string; privateKey: string }): Promise<void> {
  return new Promise((resolve, reject) => {
    const client = new Client();
    client
      .on("ready", () => {
        client.end();
        resolve();
      })
      .on("error", reject)
      .connect({
        host: opts.host,
        username: opts.username,
        privateKey: opts.privateKey,
        readyTimeout: 30_000,
      });
  });
}

async function sshLoginWithin(opts: { host: string; username: string; privateKey: string }, ms: number) {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      return await sshLogin(opts);
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

let platform: TTestPlatform | undefined;
const agents: TFleetAgent[] = [];
let buildId = "";
let imageDigest: string | undefined;
const work = await mkdtemp(join(tmpdir(), "deploy-bench-"));
try {
  platform = await startTestPlatform({
    admitAll: true,
    config: {
      heartbeatIntervalMs: 1_000,
      offlineAfterMs: 15_000,
      leaseMs: 30_000,
      ackTimeoutMs: 5_000,
      sweepIntervalMs: 250,
      handshakeTimeoutMs: 10_000,
    },
  });
  for (let i = 0; i < agentCount; i++) {
    const agent = await createFleetAgent({
      name: `bench${i}`,
      consoleUrl: platform.url,
      capacity: { vcpu: 2, memoryMb: 3072, diskGb: 20 },
      formnetPort: 43_000 + i,
    });
    agents.push(agent);
  }
  const started = await Promise.allSettled(agents.map((a) => startFleetAgent(a)));
  for (const s of started) if (s.status === "rejected") throw s.reason;
  await Promise.all(agents.map((a) => waitForNodeId(a)));

  // The README example with a real key in place of its placeholder.
  const keyPath = join(work, "id_ed25519");
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", keyPath]);
  const publicKey = (await readFile(`${keyPath}.pub`, "utf8")).trim();
  const privateKey = await readFile(keyPath, "utf8");
  const example = join(root, "examples/hello-server");
  const text = (await readFile(join(example, "Formfile"), "utf8")).replace('"ssh-rsa ..."', `"${publicKey}"`);
  const parsed = parseFormfile(text);
  if (!parsed.ok) throw new Error(`example Formfile does not parse: ${JSON.stringify(parsed.errors)}`);
  const formfile = parsed.formfile;
  const contextDir = join(work, "context");
  await cp(example, contextDir, { recursive: true });
  if (!values.warm) await writeFile(join(contextDir, "app", "nonce"), randomBytes(8).toString("hex"));
  const packed = await packContext({ dir: contextDir, formfile });
  const owner = privateKeyToAccount(generatePrivateKey()).address;
  const cp0 = platform.services;
  const repos = platform.repos;

  const t0 = Date.now();
  const build = await cp0.builds.create({
    owner,
    formfile,
    context: packed.tarGz,
    contextDigest: packed.digest,
  });
  buildId = build.buildId;
  const built = await until("build finished", 900_000, async () => {
    const row = await repos.builds.find(buildId);
    if (row?.status === "failed" || row?.status === "cancelled")
      throw new Error(`build ${row.status}: ${row.failureReason ?? ""}`);
    return row?.status === "built" ? row : undefined;
  });
  imageDigest = built.imageDigest ?? undefined;
  const tBuilt = Date.now();
  const shipped = await cp0.deployments.ship({ owner, buildId, replicas });
  if (shipped.notice) print(`notice: ${shipped.notice}`);
  const running = await until("all replicas running", 900_000, async () => {
    const rows = (await repos.instances.byDeployment(shipped.deployment.deploymentId)).filter(
      (i) => i.desired !== "deleted",
    );
    if (rows.some((i) => i.status === "failed")) throw new Error(`a replica failed: ${JSON.stringify(rows)}`);
    return rows.length === replicas && rows.every((i) => i.status === "running") ? rows : undefined;
  });
  const tRunning = Date.now();
  const username = formfile.users[0]?.username ?? "webdev";
  await Promise.all(
    running.map((i) => sshLoginWithin({ host: i.formnetIp ?? "", username, privateKey }, 120_000)),
  );
  const tSsh = Date.now();

  const timeline = ((await repos.builds.find(buildId))?.timeline ?? "[]") as string;
  const phases = JSON.parse(timeline) as { phase: string; at: string }[];
  print(
    `deploy bench: ${agentCount} agent(s), ${replicas} replica(s), ${values.warm ? "warm" : "fresh"} build`,
  );
  print(`image ${imageDigest} (${((built.imageSizeBytes ?? 0) / 1e6).toFixed(0)} MB)`);
  print("build timeline (s since build create):");
  for (const p of phases) print(`  ${p.phase.padEnd(13)} +${((Date.parse(p.at) - t0) / 1000).toFixed(1)}`);
  const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  print(`create → built:                ${secs(tBuilt - t0)}`);
  print(`ship → all replicas running:   ${secs(tRunning - tBuilt)}`);
  print(`running → SSH login (all):     ${secs(tSsh - tRunning)}`);
  print(`create → all SSH-reachable:    ${secs(tSsh - t0)}`);
} catch (error) {
  process.exitCode = 1;
  process.stderr.write(
    `deploy bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
} finally {
  await teardownFleet(agents);
  if (buildId && !values.warm) await cleanBuilderCache({ cacheDir: DEFAULT_CACHE_DIR, imageDigest });
  await platform?.close();
  await rm(work, { recursive: true, force: true });
}
// Pooled HTTP sockets and the console's loggers would keep the loop alive after a finished run.
process.exit();
