#!/usr/bin/env node
// Entry point of the `form` CLI. In a checkout it runs the TypeScript sources through tsx (with the
// repository's tsconfig named explicitly, so it works from any working directory); installed from
// the package (`npm run cli:pack`, which carries no sources) it runs the self-contained bundle.
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

process.env.FORM_CLI_ENTRY = fileURLToPath(import.meta.url);
if (existsSync(new URL("./main.ts", import.meta.url))) {
  const { register } = await import("tsx/esm/api");
  register({ tsconfig: fileURLToPath(new URL("../tsconfig.json", import.meta.url)) });
  const { run } = await import("./main.ts");
  process.exitCode = await run(process.argv);
} else {
  await import("./dist/form.mjs");
}
