// Shared set-up steps of the README's two commands (start and test).
import { spawn } from "node:child_process";
import { createWriteStream, existsSync } from "node:fs";
import { join } from "node:path";

/**
 * Runs a command to completion, streaming its output (and copying it to the file `tee` when given;
 * `silent` with `tee`: only to the file); rejects with the command line and exit code.
 */
export function run({ cmd, args = [], env = {}, cwd, log, quiet = false, tee, silent = false }) {
  return new Promise((resolve, reject) => {
    if (!quiet) log(`$ ${[cmd, ...args].join(" ")}`);
    const child = spawn(cmd, args, {
      cwd,
      env: { ...process.env, ...env },
      stdio: ["ignore", tee ? "pipe" : "inherit", tee ? "pipe" : "inherit"],
    });
    const copy = tee ? createWriteStream(tee) : null;
    if (copy) {
      for (const [from, to] of [
        [child.stdout, process.stdout],
        [child.stderr, process.stderr],
      ]) {
        from?.on("data", (chunk) => {
          if (!silent) to.write(chunk);
          copy.write(chunk);
        });
      }
    }
    child.on("error", reject);
    child.on("exit", (code, signal) => {
      copy?.end();
      if (code === 0) resolve(undefined);
      else reject(new Error(`\`${[cmd, ...args].join(" ")}\` failed with exit code ${code ?? signal}`));
    });
  });
}

/** Installs the Debian packages the platform needs (as root) or says exactly what to run. */
export async function ensureHostReady({ root, log }) {
  const script = join(root, "scripts/setup-host.sh");
  if (existsSync(script)) await run({ cmd: "bash", args: [script], cwd: root, log });
}

/** Generates the Prisma client, compiles the contracts and (for the web app) builds Next.js. */
export async function prepareBuild({ root, log, web = false }) {
  const node = process.execPath;
  const tsx = join(root, "node_modules/.bin/tsx");
  if (existsSync(join(root, "scripts/prisma.mjs"))) {
    await run({ cmd: node, args: [join(root, "scripts/prisma.mjs"), "generate"], cwd: root, log });
  }
  if (existsSync(join(root, "contracts/build.ts"))) {
    await run({ cmd: tsx, args: [join(root, "contracts/build.ts")], cwd: root, log });
  }
  if (web) {
    const { ensureNextBuild } = await import("./next-build.mjs");
    await ensureNextBuild({ root, log });
  }
}
