// Shared set-up steps of the README's two commands (start and test).
import { spawn } from "node:child_process";
import { createWriteStream, existsSync } from "node:fs";
import { join } from "node:path";

/**
 * Runs a command to completion, streaming its output (and copying it to the file `tee` when given;
 * appended; `silent` with `tee`: only to the file); rejects with the command line and exit code.
 */
export function run({ cmd, args = [], env = {}, cwd, log, quiet = false, tee, silent = false }) {
  return new Promise((resolve, reject) => {
    if (!quiet) log(`$ ${[cmd, ...args].join(" ")}`);
    const child = spawn(cmd, args, {
      cwd,
      env: { ...process.env, ...env },
      stdio: ["ignore", tee ? "pipe" : "inherit", tee ? "pipe" : "inherit"],
    });
    const copy = tee ? createWriteStream(tee, { flags: "a" }) : null;
    if (copy) {
      for (const [from, to] of [
        [child.stdout, process.stdout],
        [child.stderr, process.stderr],
      ]) {
        from?.on("data", (chunk) => {
          if (!silent) to.write(chunk);
          if (!copy.writableEnded) copy.write(chunk);
        });
      }
    }
    child.on("error", reject);
    child.on("exit", (code, signal) => {
      const settle = () => {
        if (code === 0) resolve(undefined);
        else reject(new Error(`\`${[cmd, ...args].join(" ")}\` failed with exit code ${code ?? signal}`));
      };
      if (!copy) return settle();
      // The copy ends once the child's output is drained: at the end of both pipes, or after 5 s
      // when a process the child left behind still holds them open.
      const drained = [child.stdout, child.stderr].map(
        (from) => new Promise((done) => (from?.readableEnded ? done() : from?.once("end", done))),
      );
      const bound = new Promise((done) => setTimeout(done, 5000));
      void Promise.race([Promise.all(drained), bound]).then(() => copy.end(settle));
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
