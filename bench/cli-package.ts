/**
 * The CLI package as a developer installs it: tarball and installed size, and the cold start of
 * `form --help` / `form --version` (spawn → exit) for the installed bundle, beside the checkout's
 * sources through tsx. Prints a markdown table.
 *   npx tsx bench/cli-package.ts [runs=10]
 */
import { execFileSync } from "node:child_process";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CLI_TARBALL, FORM_BIN, installCliPackage } from "../cli/testing";

const runs = Number(process.argv[2] ?? "10");
const prefix = await mkdtemp(join(tmpdir(), "form-pkg-bench-"));
try {
  const bin = await installCliPackage(prefix);
  const tarball = (await stat(join(prefix, CLI_TARBALL))).size;
  const installed = Number(
    execFileSync("du", ["-sb", join(prefix, "lib", "node_modules", "@formation", "cli")], {
      encoding: "utf8",
    }).split("\t")[0],
  );
  const coldStart = (entry: string, args: string[]) => {
    const samples: number[] = [];
    for (let i = 0; i < runs; i++) {
      const t = performance.now();
      execFileSync(process.execPath, [entry, ...args], { stdio: "ignore", cwd: tmpdir() });
      samples.push(performance.now() - t);
    }
    samples.sort((a, b) => a - b);
    const ms = (q: number) => (samples[Math.floor(q * (samples.length - 1))] ?? 0).toFixed(0);
    return `median ${ms(0.5)} ms, min ${ms(0)} ms, max ${ms(1)} ms`;
  };
  const load = (await readFile("/proc/loadavg", "utf8")).trim();
  const rows = [
    ["tarball (`npm run cli:pack`)", `${(tarball / 1024).toFixed(0)} KiB`],
    ["installed (`npm install -g`, no dependencies)", `${(installed / 1024).toFixed(0)} KiB`],
    [`\`form --help\`, installed bundle (n=${runs})`, coldStart(bin, ["--help"])],
    [`\`form --version\`, installed bundle (n=${runs})`, coldStart(bin, ["--version"])],
    [`\`form --help\`, checkout sources through tsx (n=${runs})`, coldStart(FORM_BIN, ["--help"])],
  ];
  process.stdout.write(`load: ${load}\n\n| measurement | result |\n|---|---|\n`);
  for (const [k, v] of rows) process.stdout.write(`| ${k} | ${v} |\n`);
} finally {
  await rm(prefix, { recursive: true, force: true });
}
