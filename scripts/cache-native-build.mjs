#!/usr/bin/env node
// postinstall: keeps this machine's compile of better-sqlite3 where its installer looks first.
// better-sqlite3's install runs `prebuild-install || node-gyp rebuild`; where GitHub's release
// downloads are unreachable (as on these machines) every `npm ci` compiles SQLite from source
// (~4 min on 2 cores). prebuild-install first looks in npm's cache (`<npm cache>/_prebuilds/`,
// keyed by the download URL: package version, Node ABI, platform, arch), so once one install has
// compiled it we store that build there in the prebuild tarball layout, and the next `npm ci` on
// this machine unpacks it (prebuild-install then loads it to check it works). Never fatal.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, renameSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(fileURLToPath(new URL("..", import.meta.url)));
const log = (msg) => process.stdout.write(`[cache-native-build] ${msg}\n`);

function main() {
  const pkgDir = join(root, "node_modules/better-sqlite3");
  const binary = join(pkgDir, "build/Release/better_sqlite3.node");
  if (!existsSync(binary)) return log("better-sqlite3 has no local build: nothing to keep");
  const require = createRequire(join(pkgDir, "package.json"));
  const pkg = require("./package.json");
  const util = require("prebuild-install/util");
  const rc = require("prebuild-install/rc")(pkg);
  const cached = util.cachedPrebuild(util.getDownloadUrl({ ...rc, pkg }));
  if (existsSync(cached)) return log(`already cached: ${cached}`);
  mkdirSync(dirname(cached), { recursive: true });
  const tmp = `${cached}.${process.pid}.tmp`;
  execFileSync("tar", ["-czf", tmp, "-C", pkgDir, "build/Release/better_sqlite3.node"]);
  renameSync(tmp, cached);
  log(`kept this machine's build of better-sqlite3 ${pkg.version} for the next install: ${cached}`);
}

try {
  main();
} catch (err) {
  log(`skipped: ${err instanceof Error ? err.message : String(err)}`);
}
