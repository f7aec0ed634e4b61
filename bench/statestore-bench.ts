/**
 * State store benchmark (prints figures; not a test).
 *   npx tsx bench/statestore-bench.ts [--apply 2000] [--per-side 1000] [--docs 100]
 * 1. One replica, in process: local signed writes/s (single and batched) and remote changes
 *    ingested/s (verify signature + authorize + apply + fsync per batch of 500).
 * 2. Five replicas in five processes, partitioned {console, node1} | {node2, node3, node4}: each
 *    side writes --per-side changes over --docs documents, then the links are healed and the time
 *    until every replica shows the same digest is measured.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import type { LocalAccount } from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { converged, ReplicaHandle, waitFor } from "../core/statestore/replica-harness";
import { StateStore } from "../core/statestore/store";
import { type Authorizer, StaticAuthorizer } from "../lib/statestore/authorize";

const { values } = parseArgs({
  options: {
    apply: { type: "string", default: "2000" },
    "per-side": { type: "string", default: "1000" },
    docs: { type: "string", default: "100" },
    skip: { type: "string", default: "" },
    // Sign each side's writes in batches of 200 (one signature each, as the console publishes)
    // instead of one signature per change (as agents write).
    batched: { type: "boolean", default: false },
  },
});
const APPLY = Number(values.apply);
const PER_SIDE = Number(values["per-side"]);
const DOCS = Number(values.docs);
const BATCHED = values.batched;
const out = (line: string) => process.stdout.write(`${line}\n`);
const base = mkdtempSync(join(tmpdir(), "statestore-bench-"));
const rate = (n: number, ms: number) => `${Math.round((n / ms) * 1000)}/s`;

async function ingestInto(name: string, from: StateStore, account: LocalAccount, authorizer: Authorizer) {
  const all = from.missingFor({ t: "heads", full: true, docs: [] });
  const dst = await StateStore.open({ dir: join(base, name), account, authorizer });
  const t = performance.now();
  for (let i = 0; i < all.length; i += 500) await dst.ingest(all.slice(i, i + 500));
  const ms = performance.now() - t;
  if (dst.digest() !== from.digest()) throw new Error(`single-replica bench diverged (${name})`);
  return { dst, all, ms };
}

async function singleReplica(): Promise<void> {
  const writer = privateKeyToAccount(generatePrivateKey());
  const reader = privateKeyToAccount(generatePrivateKey());
  const authorizer = new StaticAuthorizer({ console: writer.address, nodes: [reader.address] });
  const alone = await StateStore.open({ dir: join(base, "alone"), account: writer, authorizer });
  let t = performance.now();
  for (let i = 0; i < APPLY; i++)
    await alone.write(`dns/d${i % DOCS}`, (d) => Object.assign(d, { value: `v${i}` }));
  out(
    `local write, one signature + fsync each: ${APPLY} changes in ${Math.round(performance.now() - t)} ms = ${rate(APPLY, performance.now() - t)}`,
  );
  const batched = await StateStore.open({ dir: join(base, "batched"), account: writer, authorizer });
  t = performance.now();
  for (let i = 0; i < APPLY; i += 100) {
    const batch = Array.from({ length: Math.min(100, APPLY - i) }, (_, k) => ({
      key: `dns/d${(i + k) % DOCS}`,
      mutate: (d: Record<string, unknown>) => Object.assign(d, { value: `w${i + k}` }),
    }));
    await batched.writeBatch(batch);
  }
  const localMs = performance.now() - t;
  out(
    `local write, writeBatch of 100 (one signature + fsync each): ${APPLY} changes in ${Math.round(localMs)} ms = ${rate(APPLY, localMs)}`,
  );
  for (const [label, src, name] of [
    ["each signed alone", alone, "dst-alone"],
    ["signed in batches of 100", batched, "dst-batched"],
  ] as const) {
    const { dst, all, ms } = await ingestInto(name, src, reader, authorizer);
    out(
      `remote ingest, ${label} (verify+authorize+apply, fsync/500): ${all.length} changes in ${Math.round(ms)} ms = ${rate(all.length, ms)}`,
    );
    if (src !== alone) {
      t = performance.now();
      await dst.ingest(all);
      out(`replay of the same ${all.length} changes (duplicates): ${Math.round(performance.now() - t)} ms`);
    }
    await dst.close();
  }
  await alone.close();
  await batched.close();
  t = performance.now();
  const reopened = await StateStore.open({ dir: join(base, "dst-batched"), account: reader, authorizer });
  out(`reopen from disk (snapshot + log, ${APPLY} changes): ${Math.round(performance.now() - t)} ms`);
  await reopened.close();
}

async function partitionHeal(): Promise<void> {
  const keys = Array.from({ length: 5 }, () => generatePrivateKey());
  const addrs = keys.map((k) => privateKeyToAccount(k).address.toLowerCase());
  const replicas: ReplicaHandle[] = [];
  try {
    for (const [i, key] of keys.entries()) {
      replicas.push(
        await ReplicaHandle.start({
          dir: join(base, `r${i}`),
          privateKey: key,
          port: 0,
          console: addrs[0] as string,
          nodes: addrs.slice(1),
        }),
      );
    }
    const r = (i: number) => replicas[i] as ReplicaHandle;
    const side = [true, true, false, false, false];
    const pairs: [number, number][] = [];
    for (let i = 0; i < 5; i++) for (let j = i + 1; j < 5; j++) pairs.push([i, j]);
    for (const [i, j] of pairs) await r(i).call({ cmd: "dial", peer: `${j}`, url: r(j).url });
    const hostOf = (n: number) => 1 + (n % 4);
    for (let n = 0; n < DOCS; n += 200) {
      const writes = Array.from({ length: Math.min(200, DOCS - n) }, (_, k) => ({
        key: `instances/i${n + k}`,
        set: { node: addrs[hostOf(n + k)] as string, build: "b" },
      }));
      await r(0).call({ cmd: "writeMany", writes });
    }
    await waitFor(() => converged(replicas), {
      timeoutMs: 600_000,
      what: "setup convergence",
      intervalMs: 250,
    });
    for (const [i, j] of pairs) if (side[i] !== side[j]) await r(i).call({ cmd: "hangup", peer: `${j}` });

    const t0 = performance.now();
    const writesA = async () => {
      for (let i = 0; i < PER_SIDE; i += 200) {
        const writes = Array.from({ length: Math.min(200, PER_SIDE - i) }, (_, k) => ({
          key: `dns/d${(i + k) % DOCS}`,
          set: { value: `a${i + k}` },
        }));
        await r(0).call({ cmd: "writeMany", writes, batch: BATCHED });
      }
    };
    const writesB = async (node: number, count: number) => {
      const hosted = Array.from({ length: DOCS }, (_, n) => n).filter((n) => hostOf(n) === node);
      for (let i = 0; i < count; i += 200) {
        const writes = Array.from({ length: Math.min(200, count - i) }, (_, k) => ({
          key: `instances/i${hosted[(i + k) % hosted.length]}`,
          set: { status: `s${i + k}`, metrics: { cpu: (i + k) % 100 } },
        }));
        await r(node).call({ cmd: "writeMany", writes, batch: BATCHED });
      }
    };
    const third = Math.ceil(PER_SIDE / 3);
    await Promise.all([writesA(), writesB(2, third), writesB(3, third), writesB(4, PER_SIDE - 2 * third)]);
    const wroteMs = performance.now() - t0;
    await waitFor(() => converged(replicas.filter((_, i) => side[i])), {
      timeoutMs: 1_200_000,
      what: "side A",
    });
    await waitFor(() => converged(replicas.filter((_, i) => !side[i])), {
      timeoutMs: 1_200_000,
      what: "side B",
    });
    const sidesMs = performance.now() - t0;
    out(
      `partitioned writes (${BATCHED ? "signed in batches of 200" : "each change signed alone"}): ${PER_SIDE} changes per side over ${DOCS} docs written in ${Math.round(wroteMs)} ms, sides converged after ${Math.round(sidesMs)} ms`,
    );

    const t1 = performance.now();
    for (const [i, j] of pairs)
      if (side[i] !== side[j]) await r(i).call({ cmd: "dial", peer: `${j}`, url: r(j).url });
    await waitFor(() => converged(replicas), {
      timeoutMs: 1_200_000,
      what: "heal convergence",
      intervalMs: 250,
    });
    const healMs = performance.now() - t1;
    const stats = await Promise.all(replicas.map((x) => x.status()));
    out(
      `heal: five replicas converged ${Math.round(healMs)} ms after reconnecting (${rate(PER_SIDE, healMs)} of one side's changes)`,
    );
    out(
      `  changes per replica ${stats.map((s) => s.stats.changes).join(", ")}; held changes dropped ${stats.map((s) => s.stats.pendingDropped).join(", ")}; received per replica ${stats.map((s) => s.stats.received).join(", ")}; duplicates ${stats.map((s) => s.stats.duplicates).join(", ")}`,
    );
  } finally {
    await Promise.all(replicas.map((x) => x.stop("close")));
  }
}

try {
  if (!values.skip.includes("single")) await singleReplica();
  if (!values.skip.includes("heal")) await partitionHeal();
} finally {
  rmSync(base, { recursive: true, force: true });
}
