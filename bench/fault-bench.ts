/**
 * Fault recovery benchmark (issue #21) on the multinode platform (`FORMATION_NODES=3`, node hosts
 * behind NAT, the README's start command):
 *   npx tsx bench/fault-bench.ts [--nodes 3] [--rounds 3]
 * Prints, per round and as a median:
 * - agent kill → job re-leased: a build is running on node host n (its RUN step sleeps); its agent
 *   process alone is SIGKILLed (the host, its build VM's parent, dies with it); the supervisor
 *   restarts the agent, which reports the job interrupted; timed until an agent accepts the job again;
 * - console kill → all agents reconnected: the console process is SIGKILLed; the supervisor starts
 *   it again; timed until `/healthz` answers and until every node host's agent says "connected".
 * Needs root, QEMU, wireguard-go (a warm /var/cache/formation makes the platform start quick).
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs, promisify } from "node:util";
import { FORM_BUNDLE } from "@/cli/testing";
import { waitFor } from "@/core/formnet/command";
import { setUpExampleProject } from "@/scripts/lib/example-project";
import { agentPids, platformPids } from "@/scripts/lib/faults/host-probe";
import { consoleAnswers, startMultinodePlatform } from "@/scripts/lib/multinode-test-platform";
import { platformLogLines } from "@/scripts/lib/platform-log";

const exec = promisify(execFile);
const { values } = parseArgs({ options: { nodes: { type: "string" }, rounds: { type: "string" } } });
const NODES = Number(values.nodes ?? 3);
const ROUNDS = Number(values.rounds ?? 3);
const say = (s: string) => process.stdout.write(`${s}\n`);
const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;

async function main(): Promise<void> {
  await exec(process.execPath, [join(import.meta.dirname, "../scripts/build-cli.mjs")]);
  const t0 = Date.now();
  const platform = await startMultinodePlatform({ nodes: NODES });
  say(`platform with ${NODES} node hosts ready in ${secs(Date.now() - t0)} (log ${platform.logPath})`);
  const work = await mkdtemp(join(tmpdir(), "formation-fault-bench-"));
  const releases: number[] = [];
  const healthy: number[] = [];
  const reconnected: number[] = [];
  try {
    const project = await setUpExampleProject({
      work,
      url: platform.url,
      password: "fault bench",
      bin: FORM_BUNDLE,
    });
    const formfile = join(project.dir, "Formfile");
    const original = await readFile(formfile, "utf8");

    for (let round = 1; round <= ROUNDS; round++) {
      // A build that is still in its RUN step when its agent dies (a fresh nonce: no cache hit).
      await writeFile(
        formfile,
        original.replace(/^INSTALL .*$/m, `RUN echo fault-${randomBytes(4).toString("hex")} && sleep 45`),
      );
      const submitted = Date.now();
      const build = project.form(["pack", "build", "--json"]);
      const accepted = await waitFor(
        "the build job accepted",
        async () =>
          (await platformLogLines(platform.logPath, submitted)).find(
            (l) => l.kind === "build" && l.msg === "job accepted",
          ),
        { timeoutMs: 120_000, intervalMs: 200 },
      );
      // Into its build VM's RUN step, then kill the agent process of that host only.
      await waitFor(
        "the build VM running the RUN step",
        async () =>
          (await platformLogLines(platform.logPath, submitted)).some(
            (l) => l.jobId === accepted.jobId && l.msg === "job progress" && l.service === accepted.service,
          ) || undefined,
        { timeoutMs: 120_000, intervalMs: 200 },
      );
      const n = Number(accepted.service.replace("node-", ""));
      const agents = await agentPids(platform, n);
      const killed = Date.now();
      for (const pid of agents) process.kill(pid, "SIGKILL");
      const again = await waitFor(
        "the job accepted again",
        async () =>
          (await platformLogLines(platform.logPath, killed)).find(
            (l) => l.jobId === accepted.jobId && l.msg === "job accepted",
          ),
        { timeoutMs: 180_000, intervalMs: 100 },
      );
      releases.push(again.time - killed);
      await build;
      say(
        `round ${round}: agent of node host ${n} killed mid-build (pids ${agents.join(",")}) → job accepted again by ${again.service} after ${secs(again.time - killed)}`,
      );

      // The console: SIGKILL, then /healthz and every agent connected again.
      const consolePids = await platformPids(platform, ["server/main.ts"]);
      const down = Date.now();
      for (const pid of consolePids) process.kill(pid, "SIGKILL");
      await consoleAnswers(platform.url);
      const up = Date.now();
      const all = await waitFor(
        "every agent connected again",
        async () => {
          const connected = new Map<string, number>();
          for (const l of await platformLogLines(platform.logPath, down))
            if (l.service.startsWith("node-") && l.msg.startsWith("connected") && !connected.has(l.service))
              connected.set(l.service, l.time);
          return connected.size === NODES ? Math.max(...connected.values()) : undefined;
        },
        { timeoutMs: 180_000, intervalMs: 100 },
      );
      healthy.push(up - down);
      reconnected.push(all - down);
      say(
        `round ${round}: console killed (pid ${consolePids.join(",")}) → /healthz after ${secs(up - down)}, all ${NODES} agents connected after ${secs(all - down)}`,
      );
    }
    say("");
    say(`| measurement (${NODES} node hosts, ${ROUNDS} rounds) | median | rounds |`);
    say("|---|---|---|");
    say(
      `| agent SIGKILL mid-build → job accepted again | ${secs(median(releases))} | ${releases.map(secs).join(", ")} |`,
    );
    say(
      `| console SIGKILL → /healthz answers | ${secs(median(healthy))} | ${healthy.map(secs).join(", ")} |`,
    );
    say(
      `| console SIGKILL → all agents connected | ${secs(median(reconnected))} | ${reconnected.map(secs).join(", ")} |`,
    );
  } finally {
    await platform.stop();
    await rm(work, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
