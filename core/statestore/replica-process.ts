/**
 * One store replica in its own process, driven over Node IPC by tests and benchmarks
 * (`fork("core/statestore/replica-process.ts", { execArgv: ["--import", "tsx"] })`).
 * Config comes from STATESTORE_REPLICA_CONFIG (JSON, see ZReplicaConfig).
 */
import { privateKeyToAccount } from "viem/accounts";
import { z } from "zod";
import { StaticAuthorizer } from "../../lib/statestore/authorize";
import { coreEnv } from "../env";
import { createLogger } from "../log";
import type { Dialer } from "./replication";
import { StateStore } from "./store";

export const ZReplicaConfig = z.object({
  dir: z.string(),
  privateKey: z.string().regex(/^0x[0-9a-f]{64}$/),
  port: z.number().int().min(0).max(65535),
  console: z.string(),
  nodes: z.array(z.string()),
  operators: z.array(z.string()).default([]),
  snapshotEvery: z.number().int().positive().optional(),
});
export type TReplicaConfig = z.input<typeof ZReplicaConfig>;

const ZJson = z.json();
export const ZReplicaCommand = z.discriminatedUnion("cmd", [
  z.object({
    id: z.number(),
    cmd: z.literal("write"),
    key: z.string(),
    set: z.record(z.string(), ZJson),
    del: z.array(z.string()).default([]),
  }),
  z.object({
    id: z.number(),
    cmd: z.literal("writeMany"),
    writes: z.array(z.object({ key: z.string(), set: z.record(z.string(), ZJson) })),
    batch: z.boolean().optional(),
  }),
  z.object({ id: z.number(), cmd: z.literal("dial"), peer: z.string(), url: z.string() }),
  z.object({ id: z.number(), cmd: z.literal("hangup"), peer: z.string() }),
  z.object({ id: z.number(), cmd: z.literal("status") }),
  z.object({ id: z.number(), cmd: z.literal("get"), key: z.string() }),
  z.object({ id: z.number(), cmd: z.literal("history"), key: z.string() }),
  z.object({ id: z.number(), cmd: z.literal("close") }),
]);
export type TReplicaCommand = z.input<typeof ZReplicaCommand>;

async function main(): Promise<void> {
  const send = (msg: unknown) => process.send?.(msg);
  const config = ZReplicaConfig.parse(JSON.parse(coreEnv().STATESTORE_REPLICA_CONFIG ?? "{}"));
  const account = privateKeyToAccount(config.privateKey as `0x${string}`);
  const logger = createLogger("statestore-replica", { replica: account.address });
  const authorizer = new StaticAuthorizer(config);
  const store = await StateStore.open({
    dir: config.dir,
    account,
    authorizer,
    logger,
    snapshotEvery: config.snapshotEvery,
  });
  const wss = await store.listen({ port: config.port });
  store.on("rejected", (event) => send({ event: "rejected", ...event }));
  store.on("malformed", (event) => send({ event: "malformed", ...event }));
  const dialers = new Map<string, Dialer>();

  const run = async (command: z.infer<typeof ZReplicaCommand>): Promise<unknown> => {
    switch (command.cmd) {
      case "write":
        return store.write(command.key, (doc) => {
          Object.assign(doc, structuredClone(command.set));
          for (const field of command.del) delete doc[field];
        });
      case "writeMany": {
        // batch: one writeBatch (one signature, one fsync), as the console's publisher writes;
        // otherwise independent writes, each signed and fsynced alone, as agents write.
        if (command.batch) {
          const writes = command.writes.map(({ key, set }) => ({
            key,
            mutate: (doc: Record<string, unknown>) => Object.assign(doc, structuredClone(set)),
          }));
          return (await store.writeBatch(writes)).length;
        }
        const hashes = command.writes.map(({ key, set }) =>
          store.write(key, (doc) => Object.assign(doc, structuredClone(set))),
        );
        return (await Promise.all(hashes)).length;
      }
      case "dial":
        dialers.get(command.peer)?.close();
        dialers.set(command.peer, store.connect(command.url));
        return true;
      case "hangup":
        dialers.get(command.peer)?.close();
        dialers.delete(command.peer);
        return true;
      case "status":
        return { digest: store.digest(), headsDigest: store.headsDigest(), stats: store.stats() };
      case "get":
        return store.get(command.key) ?? null;
      case "history":
        return store.history(command.key);
      case "close":
        for (const dialer of dialers.values()) dialer.close();
        await store.close();
        setImmediate(() => process.exit(0));
        return true;
    }
  };

  process.on("message", (raw) => {
    const parsed = ZReplicaCommand.safeParse(raw);
    if (!parsed.success) {
      send({ id: -1, ok: false, error: { code: "bad-command", message: parsed.error.message } });
      return;
    }
    run(parsed.data).then(
      (result) => send({ id: parsed.data.id, ok: true, result }),
      (error: unknown) => {
        const code = error instanceof Error && "code" in error ? String(error.code) : "error";
        send({ id: parsed.data.id, ok: false, error: { code, message: String(error) } });
      },
    );
  });
  process.on("disconnect", () => process.exit(0));
  const { port } = wss.address() as { port: number };
  send({ event: "ready", port, address: store.address });
}

main().catch((error: unknown) => {
  process.stderr.write(`replica failed: ${String(error)}\n`);
  process.exit(1);
});
