import { fileURLToPath } from "node:url";
import { defineConfig, type TestProjectInlineConfiguration } from "vitest/config";
import { BaseSequencer, type TestSpecification } from "vitest/node";

const root = fileURLToPath(new URL(".", import.meta.url));
const exclude = ["**/node_modules/**", "**/.next/**", "**/.data/**", "playwright/**"];

/**
 * Integration files that start no VM, image build, WireGuard device or network namespace, hold no
 * fixed port and assert no latency: a second lane (`integration-light`, one file at a time) runs
 * them beside the VM files of `integration`, which leave a core mostly idle while a guest boots.
 * `npm test` runs the two projects as two vitest processes at once (scripts/test.mjs): within one
 * vitest run, projects that both run one file at a time share a single worker.
 */
const LIGHT_INTEGRATION = [
  "cli/cli.integration.test.ts",
  "cli/commands/pack-validate.integration.test.ts",
  "cli/domain.integration.test.ts",
  "contracts/*.integration.test.ts",
  "core/netns/multinode-network.integration.test.ts",
  "core/statestore/inspect.integration.test.ts",
  "core/statestore/upgrade.integration.test.ts",
  "node-agent/blobs/blobs.integration.test.ts",
  "node-agent/blobs/disk-full.integration.test.ts",
  "node-agent/blobs/peer-transfer.integration.test.ts",
  "node-agent/chain/register.integration.test.ts",
  "node-agent/image/gc.integration.test.ts",
  "node-agent/image/stale-work.integration.test.ts",
  "server/api/**/*.integration.test.ts",
  "server/chain/*.integration.test.ts",
  "server/db/**/*.integration.test.ts",
  "server/gateway/handshake.integration.test.ts",
  "server/gateway/jobs.integration.test.ts",
  "server/gateway/multi-console.integration.test.ts",
  "server/gateway/scheduler.integration.test.ts",
  "server/gateway/serial-log.integration.test.ts",
  "server/http/agent-images.integration.test.ts",
  "server/http/console-server.integration.test.ts",
  "server/http/security-headers.integration.test.ts",
  "server/ingress/acme.integration.test.ts",
  "server/ingress/domains-wiring.integration.test.ts",
  "server/services/**/*.integration.test.ts",
  "server/statestore/*.integration.test.ts",
];

/**
 * Image-builder files: their build VMs run unprivileged in empty network namespaces of their own,
 * and the VMs they boot sit on a bridge of their own (node-agent/testing/booted-image.ts) — no fixed
 * port, interface, namespace or formnet. The second lane runs them (`integration-builds`) after
 * the light files, so the two lanes end close together instead of the VM lane running alone.
 */
const BUILD_INTEGRATION = [
  "node-agent/image/build.integration.test.ts",
  "node-agent/image/build-vm/hostile.integration.test.ts",
  "node-agent/image/readme-compose.integration.test.ts",
  "node-agent/image/readme-sections.integration.test.ts",
];

/** An integration lane: real components, long timeouts, one file at a time. */
function integrationProject(
  name: string,
  include: string[],
  excluded: string[],
): TestProjectInlineConfiguration {
  return {
    extends: true,
    test: {
      name,
      include,
      exclude: excluded,
      environment: "node",
      testTimeout: 600_000,
      hookTimeout: 600_000,
      fileParallelism: false,
      // `form` as the package ships it, bundled from the current sources (cli/testing/bundle-setup.ts).
      globalSetup: ["cli/testing/bundle-setup.ts"],
    },
  };
}

// Tiers by file suffix: `*.test.ts` are fast unit tests beside the source; `*.integration.test.ts`
// start real components (database, chain, WebSocket, wireguard-go, QEMU) and tear them down;
// `*.multinode.test.ts` run against one warm multinode platform (`FORMATION_NODES=4 npm start`)
// that `npm test` shares between them and the multinode Playwright spec.
/**
 * The fault matrix (scripts/lib/faults) runs before the other multinode files: the agents and the
 * console it kills must not take down the replicas the multinode suite and its browser spec rely on.
 * Image distribution comes next: it ships and then deletes a deployment of its own, before the
 * multinode suite places the replicas the browser spec uses.
 */
class FaultMatrixFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const rank = (f: TestSpecification) =>
      f.moduleId.includes("/scripts/lib/faults/") ? 0 : f.moduleId.includes("image-distribution") ? 1 : 2;
    return [...(await super.sort(files))].sort((a, b) => rank(a) - rank(b));
  }
}

export default defineConfig({
  resolve: { alias: { "@": root } },
  test: {
    sequence: { sequencer: FaultMatrixFirst },
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
      integrationProject(
        "integration",
        ["**/*.integration.test.ts"],
        [...exclude, ...LIGHT_INTEGRATION, ...BUILD_INTEGRATION],
      ),
      integrationProject("integration-light", LIGHT_INTEGRATION, exclude),
      integrationProject("integration-builds", BUILD_INTEGRATION, exclude),
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
          globalSetup: ["cli/testing/bundle-setup.ts"],
        },
      },
    ],
  },
});
