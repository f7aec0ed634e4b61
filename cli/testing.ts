import { execFile, execFileSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import pkg from "./package.json" with { type: "json" };

/** Helpers for tests that drive the real `form` binary as a child process. */

export const FORM_BIN = fileURLToPath(new URL("./bin.mjs", import.meta.url));
/** The self-contained bundle `npm ci` builds (scripts/build-cli.mjs): what the package installs. */
export const FORM_BUNDLE = fileURLToPath(new URL("./dist/form.mjs", import.meta.url));
/** Names the `form` entry `runForm` runs by default (set by cli/testing/bundle-setup.ts). */
export const FORM_BIN_ENV = "FORMATION_TEST_FORM_BIN";
/** What `npm run cli:pack` writes (npm's name for the scoped package and its version). */
export const CLI_TARBALL = `formation-cli-${pkg.version}.tgz`;

const REPO = fileURLToPath(new URL("..", import.meta.url));

/**
 * Bundles and packs the CLI (`npm run cli:pack`) and installs the tarball with `npm install -g`
 * into `prefix`, offline (the package has no dependencies); resolves to the installed `form`.
 */
export async function installCliPackage(prefix: string): Promise<string> {
  // npm expects the global prefix's lib/ to exist.
  mkdirSync(join(prefix, "lib"), { recursive: true });
  const npm = (args: string[]) => execFileSync("npm", args, { cwd: REPO, encoding: "utf8", stdio: "pipe" });
  npm(["run", "--silent", "cli:pack", "--", "--pack-destination", prefix, "--json"]);
  const tarball = join(prefix, CLI_TARBALL);
  npm(["install", "-g", "--prefix", prefix, "--offline", "--no-audit", "--no-fund", tarball]);
  return join(prefix, "bin", "form");
}

export const EXAMPLE_DIR = fileURLToPath(new URL("../examples/hello-server", import.meta.url));

export type TFormRun = { code: number; stdout: string; stderr: string };

/** Runs `form ARGS` with `env` added to this process's environment; never throws on exit codes. */
export function runForm(opts: {
  args: string[];
  env: Record<string, string>;
  cwd?: string;
  timeoutMs?: number;
  /** The `form` entry to run (default: $FORMATION_TEST_FORM_BIN, else the checkout's cli/bin.mjs). */
  bin?: string;
}): Promise<TFormRun> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [opts.bin || process.env[FORM_BIN_ENV] || FORM_BIN, ...opts.args],
      {
        cwd: opts.cwd ?? process.cwd(),
        env: { ...process.env, FORM_PASSWORD: "", FORM_HOST: "", ...opts.env },
        timeout: opts.timeoutMs ?? 120_000,
        maxBuffer: 16 * 1024 * 1024,
      },
      (error, stdout, stderr) => {
        const code = error && typeof error.code === "number" ? error.code : error ? -1 : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** Parses a --json stdout, with the whole run in the message when it is not JSON. */
export function jsonOf<T = Record<string, unknown>>(run: TFormRun): T {
  try {
    return JSON.parse(run.stdout) as T;
  } catch (cause) {
    throw new Error(`not JSON (exit ${run.code}):\nstdout: ${run.stdout}\nstderr: ${run.stderr}`, { cause });
  }
}
