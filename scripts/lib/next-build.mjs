// Builds the Next.js app for production only when its inputs changed since the last build, so a
// warm `npm start` reuses `.next/` and starts in seconds.
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { run } from "./steps.mjs";

const INPUTS = [
  "app",
  "lib",
  "server",
  "public",
  "core",
  "next.config.mjs",
  "proxy.ts",
  "instrumentation-client.ts",
  "postcss.config.mjs",
  "package-lock.json",
];

function* walk(root, path) {
  const full = join(root, path);
  if (!existsSync(full)) return;
  if (statSync(full).isFile()) {
    yield path;
    return;
  }
  for (const entry of readdirSync(full, { withFileTypes: true }).sort((a, b) =>
    a.name.localeCompare(b.name),
  )) {
    if (entry.name === "node_modules" || entry.name.startsWith(".")) continue;
    if (entry.isDirectory()) yield* walk(root, join(path, entry.name));
    else if (entry.isFile() && !/\.(test|integration\.test)\.tsx?$/.test(entry.name))
      yield join(path, entry.name);
  }
}

/** Content hash of everything the web app is built from. */
export function webInputsHash(root) {
  const hash = createHash("sha256");
  for (const input of INPUTS) {
    for (const file of walk(root, input)) {
      hash.update(relative(root, join(root, file)));
      hash.update(readFileSync(join(root, file)));
    }
  }
  return hash.digest("hex");
}

/** Runs `next build` unless `.next/` was built from the same inputs. */
export async function ensureNextBuild({ root, log }) {
  const stamp = join(root, ".next", "formation-inputs.sha256");
  const digest = webInputsHash(root);
  if (
    existsSync(join(root, ".next", "BUILD_ID")) &&
    existsSync(stamp) &&
    readFileSync(stamp, "utf8") === digest
  ) {
    log("web app is up to date (.next reused)");
    return;
  }
  await run({
    cmd: join(root, "node_modules/.bin/next"),
    args: ["build"],
    cwd: root,
    log,
    env: { NEXT_TELEMETRY_DISABLED: "1", NODE_ENV: "production" },
  });
  writeFileSync(stamp, digest);
}
