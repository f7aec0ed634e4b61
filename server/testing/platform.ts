import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { createLogger } from "@/core/log";
import { formfileUser, type TFormfile } from "@/lib/formfile/canonical";
import { sha512Crypt } from "@/lib/formfile/sha512-crypt";
import { minimalFormfile } from "@/lib/formfile/testing";
import { createTestDatabase, type TTestDatabase } from "@/server/db/testing";
import { loadEnv, type TEnv } from "@/server/env";
import type { TControlPlaneConfig } from "@/server/gateway/config";
import { controlPlaneModule } from "@/server/gateway/module";
import type { TConsoleModule } from "@/server/http/console-runtime";
import { startConsole, type TRunningConsole } from "@/server/http/console-server";
import { TEST_CONSOLE_ORIGIN } from "@/server/http/testing";
import type { TServices } from "@/server/services/services";
import { type TTestRepositories, testRepositories } from "./repositories";

/** Short timings so lease expiry, offline detection and deadlines happen within a test. */
export const FAST_TIMINGS: Partial<TControlPlaneConfig> = {
  heartbeatIntervalMs: 200,
  // Generous against event-loop stalls on a loaded CI machine, still short enough for tests.
  offlineAfterMs: 2_000,
  leaseMs: 2_000,
  ackTimeoutMs: 1_000,
  sweepIntervalMs: 100,
  handshakeTimeoutMs: 2_000,
  metricsSampleMs: 200,
};

export type TTestPlatform = {
  url: string;
  env: TEnv;
  /** The running console's services (replaced by `restart`). */
  services: TServices;
  /** Repositories over the console's database, for tests to read state directly. */
  repos: TTestRepositories;
  console: TRunningConsole;
  dataDir: string;
  databaseUrl: string;
  /**
   * Stops the console and starts a new one on the same database and data dir: on a new port, or on
   * the same one with `keepPort` (real agents keep dialling the URL in their config).
   */
  /** Stops the console and starts it again; `whileDown` runs in between (on the database, e.g. to age it). */
  restart(options?: {
    keepPort?: boolean;
    whileDown?: (databaseUrl: string) => Promise<void>;
  }): Promise<void>;
  close(): Promise<void>;
};

/**
 * A console (API + WebSockets, no Next) with the control plane on a fresh SQLite database and
 * data dir. Agents of `operators` (or anything when `admitAll`) are admitted. Real node agents
 * can dial `url`; `FakeAgent` (fake-agent.ts) speaks the same protocol for gateway tests.
 */
export async function startTestPlatform(
  opts: {
    operators?: string[];
    admitAll?: boolean;
    config?: Partial<TControlPlaneConfig>;
    env?: Record<string, string>;
    /** Further console modules started after the control plane (e.g. the ingress, formnet's relay). */
    modules?: TConsoleModule[];
  } = {},
): Promise<TTestPlatform> {
  const database: TTestDatabase = await createTestDatabase();
  await database.prisma.$disconnect();
  const dataDir = mkdtempSync(path.join(os.tmpdir(), "formation-platform-"));
  const env = loadEnv({
    NODE_ENV: "test",
    HOST: "127.0.0.1",
    PORT: "0",
    CONSOLE_ORIGIN: TEST_CONSOLE_ORIGIN,
    DATABASE_URL: database.url,
    FORMATION_DATA_DIR: dataDir,
    FORMATION_AGENT_ALLOWLIST: (opts.operators ?? []).join(","),
    ...opts.env,
  });
  const allowed = new Set((opts.operators ?? []).map((a) => a.toLowerCase()));
  const start = (port = 0) =>
    startConsole({
      env,
      port,
      migrate: false,
      withNext: false,
      logger: createLogger("test-console"),
      controlPlane: {
        config: { ...FAST_TIMINGS, ...opts.config },
        admission: { isAdmitted: async (a) => opts.admitAll === true || allowed.has(a.toLowerCase()) },
      },
      modules: [controlPlaneModule(), ...(opts.modules ?? [])],
    });
  let running = await start();
  const platform: TTestPlatform = {
    url: running.url,
    env,
    services: running.runtime.services,
    repos: testRepositories(running.runtime.db),
    console: running,
    dataDir,
    databaseUrl: database.url,
    async restart(options = {}) {
      const port = options.keepPort === true ? new URL(running.url).port : "0";
      await running.close();
      await options.whileDown?.(database.url);
      running = await start(Number(port));
      platform.url = running.url;
      platform.console = running;
      platform.services = running.runtime.services;
      platform.repos = testRepositories(running.runtime.db);
    },
    async close() {
      try {
        await running.close();
      } finally {
        await database.cleanup();
        rmSync(dataDir, { recursive: true, force: true });
      }
    },
  };
  return platform;
}

const TEST_PASSWD_HASH = sha512Crypt("devpass1", "$6$testsalttestsalt");

/** A small valid canonical Formfile for tests. */
export function testFormfile(name = "web"): TFormfile {
  return minimalFormfile({
    name,
    // sha512Crypt("devpass1", "$6$testsalttestsalt") — a fixed hash keeps build ids stable.
    users: [formfileUser({ username: "dev", passwdHash: TEST_PASSWD_HASH })],
    steps: [{ kind: "run", command: "true", line: 2 }],
  });
}
