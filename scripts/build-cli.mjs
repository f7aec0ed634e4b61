#!/usr/bin/env node
// Bundles the `form` CLI into one self-contained file, cli/dist/form.mjs (every dependency inlined:
// the package `cli/package.json` installs with no registry access and no install scripts).
// Run by `npm ci` (postinstall) and by `npm run cli:pack`.
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = fileURLToPath(new URL("..", import.meta.url));
const { version } = JSON.parse(await readFile(`${root}/cli/package.json`, "utf8"));
const started = Date.now();
const result = await build({
  entryPoints: [`${root}/cli/entry.ts`],
  outfile: `${root}/cli/dist/form.mjs`,
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
  metafile: true,
});
const bytes = Object.values(result.metafile.outputs).reduce((n, o) => n + o.bytes, 0);
process.stdout.write(
  `build-cli: cli/dist/form.mjs ${(bytes / 1024).toFixed(0)} KiB in ${Date.now() - started} ms (v${version})\n`,
);
