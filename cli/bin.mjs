#!/usr/bin/env node
// Entry point of the `form` CLI: runs the TypeScript sources through tsx, using the repository's
// tsconfig explicitly so the CLI works from any working directory.
import { fileURLToPath } from "node:url";
import { register } from "tsx/esm/api";

register({ tsconfig: fileURLToPath(new URL("../tsconfig.json", import.meta.url)) });
const { run } = await import("./main.ts");
process.exitCode = await run(process.argv);
