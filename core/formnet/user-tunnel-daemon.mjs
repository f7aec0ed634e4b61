#!/usr/bin/env node
// Launcher of the laptop's formnet tunnel daemon (user-tunnel-daemon.ts) through tsx, naming the
// repository's tsconfig so `@/` imports resolve whatever the caller's working directory is.
import { fileURLToPath } from "node:url";
import { register } from "tsx/esm/api";

register({ tsconfig: fileURLToPath(new URL("../../tsconfig.json", import.meta.url)) });
await import("./user-tunnel-daemon.ts");
