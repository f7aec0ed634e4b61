import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

const root = fileURLToPath(new URL(".", import.meta.url));
const exclude = ["**/node_modules/**", "**/.next/**", "**/.data/**", "playwright/**"];

// Tiers by file suffix: `*.test.ts` are fast unit tests beside the source; `*.integration.test.ts`
// start real components (database, chain, WebSocket, wireguard-go, QEMU) and tear them down;
// `*.multinode.test.ts` run against one warm multinode platform (`FORMATION_NODES=4 npm start`)
// that `npm test` shares between them and the multinode Playwright spec.
export default defineConfig({
  resolve: { alias: { "@": root } },
  test: {
    projects: [
      {
        extends: true,
        test: {
          name: "unit",
          include: ["**/*.test.ts", "**/*.test.tsx"],
          exclude: [...exclude, "**/*.integration.test.ts", "**/*.multinode.test.ts"],
          environment: "node",
        },
      },
      {
        extends: true,
        test: {
          name: "integration",
          include: ["**/*.integration.test.ts"],
          exclude,
          environment: "node",
          testTimeout: 600_000,
          hookTimeout: 600_000,
          fileParallelism: false,
        },
      },
      {
        extends: true,
        test: {
          name: "multinode",
          include: ["**/*.multinode.test.ts"],
          exclude,
          environment: "node",
          testTimeout: 900_000,
          hookTimeout: 1_200_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
