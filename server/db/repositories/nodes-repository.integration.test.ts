import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDatabase, type TDatabase } from "@/server/db/client";
import { migrateDatabase } from "@/server/db/migrate";
import { startPostgresCluster, type TPostgresCluster } from "@/server/db/postgres-cluster";
import { createTestDatabase, type TTestDatabase } from "@/server/db/testing";
import { createNodesRepository } from "./nodes-repository";

let sqlite: TTestDatabase;
let cluster: TPostgresCluster | undefined;
let pg: TDatabase | undefined;

beforeAll(async () => {
  sqlite = await createTestDatabase();
  cluster = await startPostgresCluster();
  await migrateDatabase({ databaseUrl: cluster.url });
  pg = createDatabase(cluster.url);
});
afterAll(async () => {
  await sqlite?.cleanup();
  await pg?.$disconnect();
  await cluster?.stop();
});

const metrics = (i: number) => ({ cpuPct: i, memUsedMb: 100 + i, diskUsedGb: 1, netRx: 2, netTx: 3 });

// The batched latest-metrics update is raw SQL (one CASE per 200 nodes): check it on both providers.
describe.each(["sqlite", "postgresql"])("nodes repository on %s", (provider) => {
  it("writes metrics samples and each node's latest metrics in batches", async () => {
    const db = provider === "sqlite" ? sqlite.prisma : pg;
    if (!db) throw new Error("database missing");
    const repo = createNodesRepository(db);
    const now = new Date();
    const ids = Array.from({ length: 450 }, (_, i) => `n-${provider}-${i}`);
    for (const [i, id] of ids.entries()) {
      await repo.upsertOnHello(
        {
          id,
          operator: "0x0000000000000000000000000000000000000001",
          region: "test",
          accel: "tcg",
          vcpu: 1,
          memoryMb: 1024,
          diskGb: 10,
          wgPublicKey: `${provider}-${i}`,
          listenPort: 51820,
          endpoints: [],
          agentVersion: "t",
          protocolVersion: 1,
          jobSlots: null,
          consoleId: "c",
          agentTokenHash: `h-${provider}-${i}`,
          formnetIp: `10.42.${Math.floor(i / 250)}.${(i % 250) + 1}`,
        },
        now,
      );
    }
    // Every node but the last gets a sample; the last keeps no latest metrics.
    const sampled = ids.slice(0, -1);
    await repo.addSamples({
      samples: sampled.map((nodeId, i) => ({ nodeId, metrics: metrics(i) })),
      at: now,
    });
    const rows = await db.node.findMany({ where: { id: { in: ids } } });
    const latest = new Map(rows.map((r) => [r.id, r.lastMetrics]));
    for (const [i, id] of sampled.entries()) expect(JSON.parse(latest.get(id) ?? "null")).toEqual(metrics(i));
    expect(latest.get(ids.at(-1) ?? "")).toBeNull();
    expect(await db.nodeMetric.count({ where: { nodeId: { in: ids } } })).toBe(sampled.length);
  });
});
