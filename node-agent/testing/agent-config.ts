import { join } from "node:path";
import type { Hex } from "viem";
import { saveConfig } from "../config/load";
import { writeOperatorKeystore } from "../config/operator-key";
import type { TAgentConfig, TAgentConfigInput } from "../config/schema";

/**
 * Test helper: write `agent.json` and an encrypted keystore into `dataDir`, as `node-agent init
 * --yes` would, without running the preflight. Returns the config path.
 */
export async function writeTestAgentConfig(options: {
  dataDir: string;
  consoleUrl: string;
  privateKey: Hex;
  password: string;
  formnetPort?: number;
  formnetEnabled?: boolean;
  overrides?: Partial<TAgentConfigInput>;
}): Promise<{ configPath: string; config: TAgentConfig }> {
  const configPath = join(options.dataDir, "agent.json");
  const { address } = await writeOperatorKeystore({
    path: join(options.dataDir, "keystore.json"),
    privateKey: options.privateKey,
    password: options.password,
  });
  const config = await saveConfig(configPath, {
    version: 1,
    operator: { address, keystorePath: "keystore.json" },
    console: { url: options.consoleUrl },
    node: { region: "test", capacity: { vcpu: 1, memoryMb: 1024, diskGb: 10 } },
    dataDir: options.dataDir,
    formnet: {
      enabled: options.formnetEnabled ?? true,
      listenPort: options.formnetPort ?? 40_000 + Math.floor(Math.random() * 20_000),
    },
    network: {},
    // Test agents share this machine's builder cache with the VM tests, whose byte-stable images
    // are cached there between runs: their image GC must not collect those.
    images: { keepRecent: 10_000 },
    ...options.overrides,
  });
  return { configPath, config };
}
