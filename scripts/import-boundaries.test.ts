import { execFile } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";

// ARCHITECTURE.md's import rules are biome.json's per-folder noRestrictedImports overrides. This
// test lints small probe files, each at a path inside one folder, with the repository's own
// configuration: every cross-boundary import must fail `npm run lint`, every allowed one pass.

const repo = join(dirname(fileURLToPath(import.meta.url)), "..");
const biome = join(repo, "node_modules", ".bin", "biome");

type TCase = { file: string; from: string; typeOnly?: boolean };

const rejected: TCase[] = [
  { file: "lib/probe.ts", from: "node:fs/promises" },
  { file: "lib/probe.ts", from: "@/core/log" },
  { file: "lib/probe.ts", from: "@/server/env" },
  { file: "lib/probe.ts", from: "next/headers" },
  { file: "lib/formnet/probe.ts", from: "../../core/log" },
  { file: "core/probe.ts", from: "@/server/env" },
  { file: "core/probe.ts", from: "@/node-agent/agent" },
  { file: "core/context/probe.ts", from: "../../server/env" },
  { file: "server/probe.ts", from: "@/node-agent/store/replica" },
  { file: "server/probe.ts", from: "@/app/_lib/trpc" },
  { file: "server/probe.ts", from: "@/cli/session" },
  { file: "node-agent/probe.ts", from: "@/server/env" },
  { file: "node-agent/probe.ts", from: "../server/gateway/agent-gateway" },
  { file: "cli/probe.ts", from: "../server/testing/platform" },
  { file: "cli/commands/probe.ts", from: "@/node-agent/agent" },
  { file: "app/probe.ts", from: "@/server/env" },
  { file: "app/_lib/probe.ts", from: "@/core/context/pack" },
  { file: "app/probe.tsx", from: "node:fs" },
  { file: "app/layout.tsx", from: "@/server/db/client" },
  { file: "app/layout.tsx", from: "@/server/env" },
];

const allowed: TCase[] = [
  { file: "lib/probe.ts", from: "zod" },
  { file: "lib/probe.ts", from: "@/lib/ids" },
  { file: "core/probe.ts", from: "@/lib/ids" },
  { file: "core/probe.ts", from: "node:fs" },
  { file: "server/probe.ts", from: "@/core/log" },
  { file: "server/probe.ts", from: "@/lib/ids" },
  { file: "node-agent/probe.ts", from: "@/core/statestore/dialer" },
  { file: "app/probe.ts", from: "@/server/api/root", typeOnly: true },
  { file: "app/probe.ts", from: "@/lib/ids" },
  { file: "app/layout.tsx", from: "@/lib/nonce-header" },
  { file: "cli/probe.ts", from: "../server/api/root", typeOnly: true },
  { file: "cli/probe.ts", from: "../lib/ids" },
  // Tests and test helpers start whole platforms across folders.
  { file: "node-agent/probe.integration.test.ts", from: "@/server/testing/platform" },
  { file: "server/testing/probe.ts", from: "@/node-agent/testing/booted-image" },
];

const roots: string[] = [];
afterAll(async () => {
  for (const root of roots) await rm(root, { recursive: true, force: true });
});

/**
 * Where a case's probe goes: its own file name, except app/layout.tsx, which keeps its name: it
 * renders on the console, and its cases prove it has no exception of its own.
 */
function probePath(c: TCase, i: number): string {
  return c.file.endsWith("/layout.tsx") ? c.file : c.file.replace(/\/probe\./, `/probe-${i}.`);
}

/**
 * Lints the cases in scratch trees that hold the repository's biome.json (one biome run per tree;
 * a second tree only when two cases need the same path); the cases that fail, as `i:file ← from`.
 */
async function restricted(cases: TCase[]): Promise<Set<string>> {
  const config = JSON.parse(await readFile(join(repo, "biome.json"), "utf8")) as Record<string, unknown>;
  // The scratch tree is no git checkout and has no node_modules of its own.
  delete config.vcs;
  delete config.$schema;
  const trees: Map<string, number>[] = [];
  cases.forEach((c, i) => {
    const path = probePath(c, i);
    let tree = trees.find((t) => !t.has(path));
    if (!tree) {
      tree = new Map();
      trees.push(tree);
    }
    tree.set(path, i);
  });
  const failed = new Set<string>();
  for (const tree of trees) {
    const root = await mkdtemp(join(tmpdir(), "import-boundaries-"));
    roots.push(root);
    await writeFile(join(root, "biome.json"), JSON.stringify(config));
    for (const [path, i] of tree) {
      const c = cases[i];
      if (!c) continue;
      await mkdir(join(root, dirname(path)), { recursive: true });
      const binding = c.typeOnly ? "import type * as m" : "import * as m";
      await writeFile(join(root, path), `${binding} from "${c.from}";\n\nexport type TProbe = typeof m;\n`);
    }
    const out = await promisify(execFile)(
      biome,
      ["lint", "--only=style/noRestrictedImports", "--reporter=github", "."],
      { cwd: root },
    ).then(
      (r) => r.stdout,
      (error: { stdout?: string }) => error.stdout ?? "",
    );
    for (const [path, i] of tree) {
      const c = cases[i];
      if (c && out.includes(`noRestrictedImports,file=${join(root, path)},`))
        failed.add(`${i}:${c.file} ← ${c.from}`);
    }
  }
  return failed;
}

describe("ARCHITECTURE.md import rules (biome.json noRestrictedImports)", () => {
  it("rejects every cross-boundary import", { timeout: 60_000 }, async () => {
    const failed = await restricted(rejected);
    expect([...failed].sort()).toEqual(rejected.map((c, i) => `${i}:${c.file} ← ${c.from}`).sort());
  });

  it("accepts the imports each folder may make", { timeout: 60_000 }, async () => {
    expect([...(await restricted(allowed))]).toEqual([]);
  });
});
