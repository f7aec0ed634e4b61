#!/usr/bin/env node
// Bundles the `form` CLI into one self-contained file, cli/dist/form.mjs (every dependency inlined:
// the package `cli/package.json` installs with no registry access and no install scripts).
// Run by `npm ci` (postinstall) and by `npm run cli:pack`.
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = fileURLToPath(new URL("..", import.meta.url));
const { version } = JSON.parse(await readFile(`${root}/cli/package.json`, "utf8"));
const outfile = `${root}/cli/dist/form.mjs`;
const started = Date.now();
const result = await build({
  entryPoints: [`${root}/cli/entry.ts`],
  outfile,
  // Written below, not by esbuild: several test lanes bundle at once while others run `form`.
  write: false,
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  tsconfig: `${root}/tsconfig.json`,
  // CommonJS dependencies inside an ES module bundle still call require().
  banner: {
    js: "#!/usr/bin/env node\nimport { createRequire as __formRequire } from 'node:module';\nconst require = __formRequire(import.meta.url);",
  },
  legalComments: "none",
  logLevel: "warning",
});
const [bundle] = result.outputFiles;
const before = await readFile(outfile).catch(() => null);
// Same bytes: leave the file alone. Otherwise the new bundle replaces the old one in one rename, so
// a `form` starting meanwhile reads either whole file, never a truncated one.
if (before === null || !before.equals(bundle.contents)) {
  await mkdir(`${root}/cli/dist`, { recursive: true });
  const partial = `${outfile}.${process.pid}.partial`;
  await writeFile(partial, bundle.contents, { mode: 0o755 });
  await rename(partial, outfile);
}
const bytes = bundle.contents.byteLength;
process.stdout.write(
  `build-cli: cli/dist/form.mjs ${(bytes / 1024).toFixed(0)} KiB in ${Date.now() - started} ms (v${version})\n`,
);
