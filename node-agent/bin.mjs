#!/usr/bin/env node
// `node-agent` entry: runs the TypeScript sources through tsx (no build step on operators' hosts),
// with the repository's tsconfig named explicitly so `@/` imports resolve from any working directory.
import { fileURLToPath } from "node:url";
import { register } from "tsx/esm/api";

register({ tsconfig: fileURLToPath(new URL("../tsconfig.json", import.meta.url)) });
await import("./main.ts");
