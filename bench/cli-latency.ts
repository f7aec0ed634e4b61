/**
 * Wall-clock cost of `form` commands as a user feels them: the real bin as a child process against
 * an in-process console (no agent). Prints one line per command (median of N runs).
 *   npx tsx bench/cli-latency.ts [runs=3]
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generatePrivateKey } from "viem/accounts";
import { EXAMPLE_DIR, jsonOf, runForm } from "../cli/testing";
import { startTestPlatform } from "../server/testing/platform";

const runs = Number(process.argv[2] ?? "3");
const platform = await startTestPlatform();
const dir = await mkdtemp(join(tmpdir(), "form-bench-"));
const env = { FORMKIT: join(dir, "kit"), FORM_PASSWORD: "bench password" };

async function time(label: string, args: string[], extra: Record<string, string> = {}): Promise<string> {
  const samples: number[] = [];
  let last = "";
  for (let i = 0; i < runs; i++) {
    const started = performance.now();
    const run = await runForm({ args, env: { ...env, ...extra } });
    samples.push(performance.now() - started);
    if (run.code !== 0) throw new Error(`${label} failed (${run.code}): ${run.stderr}`);
    last = run.stdout;
  }
  samples.sort((a, b) => a - b);
  const median = samples[Math.floor(samples.length / 2)] ?? 0;
  process.stdout.write(`${label.padEnd(44)} median ${(median / 1000).toFixed(2)} s  (n=${runs})\n`);
  return last;
}

try {
  await time("form --help (startup floor)", ["--help"]);
  await time("form kit init --yes (scrypt N=2^17)", [
    "kit",
    "init",
    "--yes",
    "--force",
    "--private-key",
    generatePrivateKey(),
    "--host",
    platform.url,
  ]);
  await time("form pack validate examples/hello-server", ["pack", "validate", EXAMPLE_DIR]);
  const build = jsonOf<{ buildId: string }>({
    code: 0,
    stderr: "",
    stdout: await time("form pack build --detach (pack+sign+upload)", [
      "pack",
      "build",
      EXAMPLE_DIR,
      "--detach",
      "--json",
    ]),
  });
  await time("form pack status --build-id (unlock+query)", ["pack", "status", "--build-id", build.buildId]);
} finally {
  await platform.close();
  await rm(dir, { recursive: true, force: true });
}
