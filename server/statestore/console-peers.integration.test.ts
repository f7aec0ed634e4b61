import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "@/core/log";
import { createTestDatabase, type TTestDatabase } from "@/server/db/testing";
import { loadEnv } from "@/server/env";
import { startConsole, type TRunningConsole } from "@/server/http/console-server";
import { TEST_CONSOLE_ORIGIN } from "@/server/http/testing";
import { eventually } from "@/server/testing/fake-agent";
import { stateStoreModule, type TConsoleStateStore } from "./module";

// Two real consoles (in-process, real SQLite, real WebSockets) sharing one database and one data
// dir, hence one console key: the second dials the first's /ws/store with that key.
const operator = privateKeyToAccount(generatePrivateKey());
let database: TTestDatabase;
let dataDir: string;
const consoles: TRunningConsole[] = [];

async function startOne(peers: string[]): Promise<TRunningConsole> {
  const env = loadEnv({
    NODE_ENV: "test",
    HOST: "127.0.0.1",
    PORT: "0",
    CONSOLE_ORIGIN: TEST_CONSOLE_ORIGIN,
    DATABASE_URL: database.url,
    FORMATION_DATA_DIR: dataDir,
    FORMATION_AGENT_ALLOWLIST: operator.address,
  });
  const c = await startConsole({
    env,
    migrate: false,
    withNext: false,
    logger: createLogger("test-console"),
    modules: [stateStoreModule({ syncIntervalMs: 150, peers })],
  });
  consoles.push(c);
  return c;
}

function stateOf(c: TRunningConsole): TConsoleStateStore {
  const state = c.runtime.services.stateStore;
  if (!state) throw new Error("state store module not running");
  return state;
}

beforeAll(async () => {
  database = await createTestDatabase();
  await database.prisma.$disconnect();
  dataDir = await mkdtemp(join(tmpdir(), "formation-ss-peers-"));
});

afterAll(async () => {
  for (const c of consoles.reverse()) await c.close();
  await database?.cleanup();
  await rm(dataDir, { recursive: true, force: true });
});

describe("consoles sharing a database peer their state stores", () => {
  it("replicates writes both ways between two consoles of one data dir", async () => {
    const first = await startOne([]);
    const second = await startOne([`http://127.0.0.1:${first.port}`]);
    const a = stateOf(first);
    const b = stateOf(second);
    expect(b.dir).not.toBe(a.dir);
    expect(b.store.address).toBe(a.store.address);
    await a.store.write("dns/from-first", (doc) => {
      doc.value = "10.42.0.10";
    });
    await b.store.write("dns/from-second", (doc) => {
      doc.value = "10.42.0.20";
    });
    await eventually(() => b.store.get("dns/from-first")?.value === "10.42.0.10", {
      what: "first console's write on the second",
    });
    await eventually(() => a.store.get("dns/from-second")?.value === "10.42.0.20", {
      what: "second console's write on the first",
    });
    await eventually(() => a.store.headsDigest() === b.store.headsDigest(), { what: "equal heads" });
    // The peer is the console itself, not a node: it got no node record or node role.
    expect(a.store.get(`nodes/${a.store.address}`)).toBeUndefined();
    expect(a.authorizer.rolesOf(a.store.address)).toEqual(["console"]);
  });
});
