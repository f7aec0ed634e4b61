import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { defineConfig } from "@playwright/test";
import { seedTestConsoleCa } from "../server/testing/console-ca";
import { TEST_NODE_ADDRESS } from "./fixtures/test-node-key";

// Browser tests drive Debian's Chromium (no browser download) against the real platform started by
// the README's start command on a throwaway data directory and its own ports.
const port = Number(process.env.E2E_PORT ?? 3300);
const ownDataDir = process.env.E2E_DATA_DIR === undefined;
const dataDir = process.env.E2E_DATA_DIR ?? mkdtempSync(join(tmpdir(), "formation-e2e-"));
process.env.E2E_DATA_DIR = dataDir;
// A run's images and blobs are ~2.5 GB: gone when the run ends (after the platform stopped); the
// database and logs stay for a look at a failure. A directory passed in E2E_DATA_DIR is the caller's.
if (ownDataDir) {
  process.once("exit", () => {
    for (const heavy of ["agent/images", "agent/vms", "blobs"])
      rmSync(join(dataDir, heavy), { recursive: true, force: true });
  });
}
// The machine's cached terminal CA: images of the specs' byte-stable Formfiles stay builder cache
// hits from run to run (a fresh CA changes every image).
seedTestConsoleCa(dataDir);

export default defineConfig({
  testDir: ".",
  testMatch: "**/*.spec.ts",
  // The multinode specs run on the shared multinode platform (multinode.config.ts).
  testIgnore: "multinode/**",
  outputDir: "artifacts/results",
  timeout: 15 * 60_000,
  expect: { timeout: 30_000 },
  workers: 1,
  reporter: [["list"], ["json"]],
  use: {
    baseURL: `http://localhost:${port}`,
    screenshot: "on",
    trace: "retain-on-failure",
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    },
  },
  webServer: {
    command: "node scripts/start.mjs",
    cwd: "..",
    url: `http://localhost:${port}/healthz`,
    timeout: 10 * 60_000,
    reuseExistingServer: false,
    stdout: "pipe",
    // The agent is ephemeral here: on stop it deletes its VMs, bridge and formnet interface.
    gracefulShutdown: { signal: "SIGTERM", timeout: 120_000 },
    env: {
      PORT: String(port),
      CHAIN_PORT: String(port + 1),
      FORMATION_DATA_DIR: dataDir,
      NEXT_TELEMETRY_DISABLED: "1",
      FORMATION_AGENT_EPHEMERAL: "1",
      // The machine's image cache is shared with the integration tests' agents: GC keeps it.
      FORMATION_AGENT_IMAGES_KEEP_RECENT: "10000",
      // Every spec signs in from 127.0.0.1 (2 points each): the production 20/min would throttle them.
      FORMATION_LIMIT_AUTH_PER_IP: "1000",
      // The scripted test node of the UX specs (fixtures/test-node.ts) may join next to the real agent.
      FORMATION_AGENT_ALLOWLIST: TEST_NODE_ADDRESS,
    },
  },
});
