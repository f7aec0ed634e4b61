#!/usr/bin/env node
// `npm test`: every test tier of the project, on a fresh machine included. Installs what the tests
// need on the host (Debian packages, as root), generates code, then runs typecheck, lint, unit tests,
// integration tests against real components, and the Playwright browser tests. Ends with one
// `N passed, N failed` line and a non-zero exit code if anything failed.
import { existsSync, mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { stripVTControlCharacters } from "node:util";
import { register } from "tsx/esm/api";
import { ensureHostReady, prepareBuild, run } from "./lib/steps.mjs";

const root = resolve(fileURLToPath(new URL("..", import.meta.url)));
const log = (msg) => process.stdout.write(`[test] ${msg}\n`);
const bin = (name) => join(root, "node_modules/.bin", name);
const reports = mkdtempSync(join(tmpdir(), "formation-test-"));
const only = process.argv.slice(2);

const totals = { passed: 0, failed: 0, skipped: 0 };
const failures = [];
const timings = [];
/** Lines printed after the timings, just before the summary. */
const afterword = [];

async function step(name, fn) {
  if (only.length > 0 && !only.includes(name)) return;
  const started = Date.now();
  log(`── ${name}`);
  try {
    await fn();
  } catch (err) {
    failures.push(`${name}: ${err instanceof Error ? err.message : String(err)}`);
  }
  timings.push(`${name} ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

function countVitest(file) {
  if (!existsSync(file)) return;
  const report = JSON.parse(readFileSync(file, "utf8"));
  totals.passed += report.numPassedTests ?? 0;
  totals.failed += report.numFailedTests ?? 0;
  totals.skipped += (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
  for (const file of report.testResults ?? []) {
    const where = file.name?.startsWith(root) ? file.name.slice(root.length + 1) : file.name;
    const failedTests = (file.assertionResults ?? []).filter((t) => t.status === "failed");
    for (const t of failedTests) failedTest(`${where} › ${t.fullName}`, t.failureMessages?.[0]);
    // A file that failed outside any test (an import, a hook) has no failed test to name.
    if (failedTests.length === 0 && file.status === "failed") failedTest(where, file.message);
  }
}

/** Names a failed test and the first lines of its error among the last lines printed (a CI log's tail). */
function failedTest(name, message) {
  afterword.push(`failed: ${name}`);
  const lines = stripVTControlCharacters(String(message ?? ""))
    .split("\n")
    .filter((l) => l.trim() !== "" && !l.includes("node_modules/") && !l.includes("(<anonymous>)"));
  for (const line of lines.slice(0, 6)) afterword.push(`    ${line.slice(0, 300)}`);
}

/** Playwright's JSON report: suites nest suites and specs; a spec's tests hold one result per attempt. */
function playwrightFailures(suite, path) {
  for (const child of suite.suites ?? []) playwrightFailures(child, [...path, child.title]);
  for (const spec of suite.specs ?? []) {
    for (const test of spec.tests ?? []) {
      if (test.status !== "unexpected") continue;
      const last = test.results?.at(-1);
      failedTest(
        `${spec.file}:${spec.line} › ${[...path, spec.title].filter(Boolean).join(" › ")}`,
        last?.error?.message,
      );
    }
  }
}

function countPlaywright(file) {
  if (!existsSync(file)) return;
  const report = JSON.parse(readFileSync(file, "utf8"));
  const stats = report.stats ?? {};
  for (const suite of report.suites ?? []) playwrightFailures(suite, []);
  totals.passed += (stats.expected ?? 0) + (stats.flaky ?? 0);
  totals.failed += stats.unexpected ?? 0;
  totals.skipped += stats.skipped ?? 0;
}

/**
 * After a failed browser tier (printed at the very end): the platform's errors (its JSON log lines of level 50 and
 * up) from the tier's output, last of all, where a truncated CI log still shows them.
 */
function platformProblems(tier, file) {
  if (!existsSync(file)) return;
  const problems = readFileSync(file, "utf8")
    .split("\n")
    .filter((line) => /"level":(5|6)0[,}]/.test(line));
  if (problems.length === 0) return;
  afterword.push(`the platform's last errors during ${tier} (${problems.length} in all):`);
  for (const line of problems.slice(-25)) afterword.push(`  ${line.slice(0, 800)}`);
}

function hasFiles(dir, suffix) {
  const walk = (d) =>
    readdirSync(d, { withFileTypes: true }).some((e) => {
      if (e.name === "node_modules" || e.name.startsWith(".")) return false;
      const p = join(d, e.name);
      return e.isDirectory() ? walk(p) : e.name.endsWith(suffix);
    });
  return existsSync(dir) && walk(dir);
}

/** Runs a check with its output held back, then printed as one block under its name. */
async function quietly(name, cmd, args) {
  const out = join(reports, `${name}.log`);
  try {
    await run({ cmd, args, cwd: root, log, tee: out, silent: true });
  } finally {
    log(`── ${name} output`);
    if (existsSync(out)) process.stdout.write(readFileSync(out, "utf8"));
  }
}

/** Runs one vitest project; counts its tests from its JSON report. `tee`: also copy the output there. */
async function vitestProject(project, env = {}, opts = {}) {
  const out = join(reports, `${project}.json`);
  try {
    await run({
      cmd: bin("vitest"),
      args: [
        "run",
        "--project",
        project,
        "--reporter=default",
        "--reporter=json",
        `--outputFile.json=${out}`,
      ],
      cwd: root,
      log,
      env: { NODE_ENV: "test", ...env },
      ...opts,
    });
  } finally {
    countVitest(out);
  }
}

/**
 * The integration tier in two concurrent lanes (vitest.config.ts): the VM files one after another
 * in `integration`, and beside them the light files (`integration-light`) then the image-builder
 * files (`integration-builds`), whose output is printed as one block when that lane ends (two live
 * streams would interleave).
 */
async function integrationTier() {
  const secondLog = join(reports, "integration-second-lane.log");
  const second = (async () => {
    let failed = null;
    for (const project of ["integration-light", "integration-builds"]) {
      await vitestProject(project, {}, { silent: true, tee: secondLog }).catch((error) => {
        failed ??= error;
      });
    }
    return failed;
  })();
  const heavy = await vitestProject("integration").then(
    () => null,
    (error) => error,
  );
  const secondError = await second;
  log("── integration-light and integration-builds (ran beside the VM files)");
  if (existsSync(secondLog)) process.stdout.write(readFileSync(secondLog, "utf8"));
  if (heavy || secondError) throw heavy ?? secondError;
}

/**
 * The multinode tier: one warm `FORMATION_NODES=4` platform (started by the README's start command
 * on its own ports, namespaces and address blocks) shared by the vitest multinode suite and the
 * multinode Playwright specs, then torn down.
 */
async function multinodeTier() {
  register();
  const { startMultinodePlatform, MULTINODE_HANDLE_ENV } = await import("./lib/multinode-test-platform.ts");
  const handlePath = join(reports, "multinode-platform.json");
  log("starting the shared multinode platform (4 node hosts behind NAT)");
  const platform = await startMultinodePlatform({ handlePath });
  log(`multinode platform ready at ${platform.url} (log: ${platform.logPath})`);
  const env = { [MULTINODE_HANDLE_ENV]: handlePath };
  try {
    // The browser specs run even when the suite failed: each reports its own failures.
    const suite = await vitestProject("multinode", env).then(
      () => null,
      (error) => error,
    );
    const out = join(reports, "playwright-multinode.json");
    try {
      await run({
        cmd: bin("playwright"),
        args: ["test", "--config", "playwright/multinode.config.ts"],
        cwd: root,
        log,
        env: { ...env, PLAYWRIGHT_JSON_OUTPUT_NAME: out },
      });
    } finally {
      countPlaywright(out);
    }
    if (suite) throw suite;
  } finally {
    await platform.stop();
  }
}

async function main() {
  const started = Date.now();
  await step("setup", async () => {
    await ensureHostReady({ root, log });
    await prepareBuild({ root, log });
  });
  // Typecheck and lint (one core between them) run beside the unit tests; their output follows.
  await Promise.all([
    (async () => {
      await step("typecheck", () => quietly("typecheck", bin("tsc"), ["--noEmit", "-p", "tsconfig.json"]));
      await step("lint", () => quietly("lint", bin("biome"), ["check", "."]));
    })(),
    step("unit", () => vitestProject("unit")),
  ]);
  await step("integration", integrationTier);
  await step("e2e", async () => {
    if (!hasFiles(join(root, "playwright"), ".spec.ts")) return;
    const out = join(reports, "playwright.json");
    const output = join(reports, "e2e.log");
    try {
      await run({
        cmd: bin("playwright"),
        args: ["test", "--config", "playwright/playwright.config.ts"],
        cwd: root,
        log,
        env: { PLAYWRIGHT_JSON_OUTPUT_NAME: out },
        tee: output,
      });
    } catch (error) {
      platformProblems("e2e", output);
      throw error;
    } finally {
      countPlaywright(out);
    }
  });
  await step("multinode", multinodeTier);
  log(`timings: ${timings.join(", ")}; total ${((Date.now() - started) / 1000).toFixed(1)} s`);
  for (const line of afterword) log(line);
  for (const failure of failures) log(`FAILED ${failure}`);
  const skipped = totals.skipped > 0 ? `, ${totals.skipped} skipped` : "";
  process.stdout.write(
    `${totals.passed} passed, ${totals.failed + (failures.length > 0 && totals.failed === 0 ? failures.length : 0)} failed${skipped}\n`,
  );
  process.exit(failures.length > 0 ? 1 : 0);
}

main().catch((err) => {
  process.stderr.write(`[test] ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
