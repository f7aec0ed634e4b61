import { readFileSync } from "node:fs";
import { defineConfig } from "@playwright/test";
import baseConfig from "./playwright.config";

// Browser specs of the multinode network. They run against the warm multinode platform that
// `npm test` starts once for every multinode test (scripts/lib/multinode-test-platform.ts) and names
// in FORMATION_TEST_MULTINODE; run them with `npm test -- multinode`.
const handlePath = process.env.FORMATION_TEST_MULTINODE;
if (!handlePath) {
  throw new Error(
    "FORMATION_TEST_MULTINODE is not set: run the multinode specs with `npm test -- multinode`, which starts the multinode platform they share",
  );
}
const handle = JSON.parse(readFileSync(handlePath, "utf8")) as { url: string };

export default defineConfig({
  ...baseConfig,
  testDir: "./multinode",
  testMatch: "**/*.spec.ts",
  testIgnore: [],
  outputDir: "artifacts/multinode",
  use: { ...baseConfig.use, baseURL: handle.url },
  webServer: undefined,
});
