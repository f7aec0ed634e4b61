import { randomBytes } from "node:crypto";
import { appendFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as Automerge from "@automerge/automerge";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { afterEach, describe, expect, it } from "vitest";
import { StaticAuthorizer } from "../../lib/statestore/authorize";
import { actorFor, sealChange, type TEnvelope } from "./envelope";
import { StateStore, type TRejectedEvent } from "./store";

const consoleKey = privateKeyToAccount(generatePrivateKey());
const nodeA = privateKeyToAccount(generatePrivateKey());
const nodeB = privateKeyToAccount(generatePrivateKey());
const A = nodeA.address.toLowerCase();
const B = nodeB.address.toLowerCase();
const authorizer = new StaticAuthorizer({ console: consoleKey.address, nodes: [A, B] });
const dirs: string[] = [];
const open: StateStore[] = [];

async function newStore(
  account = consoleKey,
  extra: { dir?: string; snapshotEvery?: number; maxPending?: number } = {},
) {
  const dir = extra.dir ?? mkdtempSync(join(tmpdir(), "statestore-unit-"));
  dirs.push(dir);
  const store = await StateStore.open({ dir, account, authorizer, ...extra });
  open.push(store);
  return store;
}

// Returns a mutation that assigns `fields` (keeps the tests' writes one-liners).
const set = (fields: Record<string, unknown>) => (doc: Record<string, unknown>) => {
  Object.assign(doc, fields);
};

const everything = (store: StateStore): TEnvelope[] => store.missingFor({ t: "heads", full: true, docs: [] });

function rejections(store: StateStore): TRejectedEvent[] {
  const seen: TRejectedEvent[] = [];
  store.on("rejected", (e: TRejectedEvent) => seen.push(e));
  return seen;
}

afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe("StateStore", () => {
  it("commits what a failing ingest batch admitted before the failure (log, count, events)", async () => {
    const src = await newStore();
    await src.writeBatch([0, 1, 2].map((i) => ({ key: `dns/f${i}`, mutate: set({ value: i }) })));
    const fromB = await newStore(nodeB);
    await fromB.write(`nodes/${B}`, set({ heartbeat: 1 }));
    // An authorizer that fails (as a bug or an I/O-backed authorizer might) on nodeB's change.
    const failing = {
      rolesOf: (address: string) => {
        if (address === B) throw new Error("authorizer down");
        return authorizer.rolesOf(address);
      },
    };
    const dir = mkdtempSync(join(tmpdir(), "statestore-unit-"));
    dirs.push(dir);
    const dst = await StateStore.open({ dir, account: nodeA, authorizer: failing });
    const seen: string[] = [];
    dst.on("change", (e: { key: string }) => seen.push(e.key));
    await expect(dst.ingest([...everything(src), ...everything(fromB)])).rejects.toThrow("authorizer down");
    expect(seen.sort()).toEqual(["dns/f0", "dns/f1", "dns/f2"]);
    expect(dst.stats().changes).toBe(3);
    await dst.close();
    const reopened = await newStore(nodeA, { dir });
    expect(reopened.stats().changes).toBe(3);
    expect(reopened.get("dns/f2")).toEqual({ value: 2 });
  });

  it("holds a change until its deps arrive, then applies both exactly once", async () => {
    const src = await newStore();
    for (let i = 0; i < 3; i++) await src.write("dns/a", set({ value: `v${i}` }));
    const [c1, c2, c3] = everything(src);
    const dst = await newStore(nodeA);
    const changes: string[] = [];
    dst.on("change", (e: { hash: string }) => changes.push(e.hash));
    await dst.ingest([c3 as TEnvelope, c2 as TEnvelope]);
    expect(dst.get("dns/a")).toBeUndefined();
    expect(dst.stats().pending).toBe(2);
    await dst.ingest([c1 as TEnvelope]);
    expect(dst.get("dns/a")).toEqual({ value: "v2" });
    expect(dst.stats().pending).toBe(0);
    expect(changes).toEqual([c1?.hash, c2?.hash, c3?.hash]);
    await dst.ingest([c1 as TEnvelope, c2 as TEnvelope, c3 as TEnvelope]);
    expect(changes).toHaveLength(3);
    expect(dst.stats().duplicates).toBe(3);
    expect(dst.digest()).toBe(src.digest());
  });

  it("bounds held changes, dropping the oldest", async () => {
    const src = await newStore();
    for (let i = 0; i < 4; i++) await src.write("dns/a", set({ value: `v${i}` }));
    const dst = await newStore(nodeA, { maxPending: 2 });
    await dst.ingest(everything(src).slice(1));
    expect(dst.stats()).toMatchObject({ pending: 2, pendingDropped: 1 });
  });

  it("refuses an unauthorized local write and keeps the document as it was", async () => {
    const node = await newStore(nodeA);
    await node.write(`nodes/${A}`, set({ heartbeat: 1 }));
    await expect(node.write(`nodes/${B}`, set({ heartbeat: 1 }))).rejects.toMatchObject({
      code: "forbidden",
    });
    await expect(node.write(`nodes/${A}`, set({ operator: A }))).rejects.toMatchObject({
      code: "forbidden",
    });
    expect(node.get(`nodes/${A}`)).toEqual({ heartbeat: 1 });
    await node.write(`nodes/${A}`, set({ heartbeat: 2 }));
    expect(node.history(`nodes/${A}`)).toHaveLength(2);
    expect(node.list("nodes").map((e) => e.key)).toEqual([`nodes/${A}`]);
    await expect(node.write("bogus", () => undefined)).rejects.toMatchObject({ code: "bad-key" });
    expect(await node.write(`nodes/${A}`, () => undefined)).toBeUndefined();
  });

  it("commits a batch of writes all or nothing", async () => {
    const node = await newStore(nodeA);
    const ok = await node.writeBatch([
      { key: `nodes/${A}`, mutate: set({ heartbeat: 1 }) },
      { key: `nodes/${A}`, mutate: set({ metrics: { cpu: 0.1 } }) },
    ]);
    expect(ok).toHaveLength(2);
    const refused = node.writeBatch([
      { key: `nodes/${A}`, mutate: set({ heartbeat: 2 }) },
      { key: "dns/x", mutate: set({ value: "1" }) },
    ]);
    await expect(refused).rejects.toMatchObject({ code: "forbidden" });
    expect(node.list()).toEqual([{ key: `nodes/${A}`, value: { heartbeat: 1, metrics: { cpu: 0.1 } } }]);
    expect(node.history(`nodes/${A}`)).toHaveLength(2);
    await node.write(`nodes/${A}`, set({ heartbeat: 3 }));
    expect(node.history(`nodes/${A}`).map((h) => h.seq)).toEqual([1, 2, 3]);
  });

  it("judges a host's instance write by the placement in the change's causal past", async () => {
    const consoleStore = await newStore();
    const nodeStore = await newStore(nodeA);
    await consoleStore.write("instances/i1", set({ node: A }));
    await nodeStore.ingest(everything(consoleStore));
    // Concurrently: the console moves the instance to B while A (not yet told) reports status.
    await consoleStore.write("instances/i1", set({ node: B }));
    await nodeStore.write("instances/i1", set({ status: "Started" }));
    const seen = rejections(consoleStore);
    await consoleStore.ingest(everything(nodeStore));
    expect(seen).toEqual([]);
    expect(consoleStore.get("instances/i1")).toEqual({ node: B, status: "Started" });
    // Once A has seen the move, it no longer hosts the instance and its writes are refused.
    await nodeStore.ingest(everything(consoleStore));
    await expect(nodeStore.write("instances/i1", set({ status: "Stopped" }))).rejects.toMatchObject({
      code: "forbidden",
    });
  });

  it("rejects a second change for the same actor and sequence number (equivocation)", async () => {
    const actor = actorFor(consoleKey.address, randomBytes(12));
    const fork = async (value: string) => {
      const doc = Automerge.change(Automerge.init<Record<string, unknown>>({ actor }), set({ value: value }));
      const bytes = Automerge.getLastLocalChange(doc);
      if (!bytes) throw new Error("no change");
      return (await sealChange({ account: consoleKey, key: "dns/e", bytes })).envelope;
    };
    const dst = await newStore(nodeA);
    const seen = rejections(dst);
    await dst.ingest([await fork("one"), await fork("two")]);
    expect(seen.map((e) => e.code)).toEqual(["equivocation"]);
    expect(dst.get("dns/e")).toEqual({ value: "one" });
  });

  it("rejects a change that skips its actor's previous sequence number", async () => {
    const actor = actorFor(consoleKey.address, randomBytes(12));
    let doc = Automerge.change(Automerge.init<Record<string, unknown>>({ actor }), set({ value: "1" }));
    doc = Automerge.change(doc, set({ value: "2" }));
    const second = Automerge.getLastLocalChange(doc);
    if (!second) throw new Error("no change");
    // Re-encoded without deps, seq 2 now claims a place in the DAG with nothing before it.
    const orphan = Automerge.encodeChange({ ...Automerge.decodeChange(second), deps: [] });
    const { envelope } = await sealChange({ account: consoleKey, key: "dns/s", bytes: orphan });
    const dst = await newStore(nodeA);
    const seen = rejections(dst);
    await dst.ingest([envelope]);
    expect(seen.map((e) => e.code)).toEqual(["bad-seq"]);
    expect(dst.get("dns/s")).toBeUndefined();
  });

  it("refuses a directory another open store holds", async () => {
    await newStore();
    await expect(newStore(consoleKey, { dir: dirs.at(-1) })).rejects.toMatchObject({ code: "locked" });
  });

  it("resumes from its directory: snapshot plus log tail, torn last line cut", async () => {
    const first = await newStore(consoleKey, { snapshotEvery: 5 });
    const dir = dirs.at(-1) as string;
    for (let i = 0; i < 12; i++) await first.write(`peers/p${i % 3}`, set({ ip: `10.42.0.${i}` }));
    const digest = first.digest();
    const history = first.history("peers/p1");
    await first.close();
    appendFileSync(join(dir, "changes.log"), '{"key":"dns/torn","ha');
    const second = await newStore(consoleKey, { dir, snapshotEvery: 5 });
    expect(second.digest()).toBe(digest);
    expect(second.history("peers/p1")).toEqual(history);
    expect(second.stats().changes).toBe(12);
    await second.write("peers/p0", set({ ip: "10.42.0.99" }));
    await second.close();
    const third = await newStore(consoleKey, { dir });
    expect(third.get("peers/p0")).toEqual({ ip: "10.42.0.99" });
    expect(third.stats().changes).toBe(13);
  });
});
