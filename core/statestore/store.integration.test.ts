import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { converged, ReplicaHandle, waitFor } from "./replica-harness";
import { AttackerPeer, forgedEnvelopes } from "./test-attacker";

// Five replicas in five processes: r0 holds the console key, r1..r4 are admitted nodes.
const REPLICAS = 5;
const keys = Array.from({ length: REPLICAS }, () => generatePrivateKey());
const addresses = keys.map((k) => privateKeyToAccount(k).address.toLowerCase());
const consoleAddress = addresses[0] as string;
const nodeAddresses = addresses.slice(1);
const base = mkdtempSync(join(tmpdir(), "statestore-it-"));
const replicas: ReplicaHandle[] = [];

// Deterministic PRNG so a failing partition schedule can be replayed from its seed.
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const r = (i: number) => replicas[i] as ReplicaHandle;
const linkName = (i: number, j: number) => `r${i}-r${j}`;
const dial = (i: number, j: number) => r(i).call({ cmd: "dial", peer: linkName(i, j), url: r(j).url });
const hangup = (i: number, j: number) => r(i).call({ cmd: "hangup", peer: linkName(i, j) });
const pairs = () =>
  Array.from({ length: REPLICAS }, (_, i) => i).flatMap((i) =>
    Array.from({ length: REPLICAS - i - 1 }, (_, k) => [i, i + k + 1] as const),
  );
const instanceKey = (n: number) => `instances/i${n}`;
const hostOf = (n: number) => nodeAddresses[n % nodeAddresses.length] as string;
const waitConverged = (group: readonly ReplicaHandle[], what: string) =>
  waitFor(() => converged(group), { timeoutMs: 60_000, what });

describe("replicated state store across five processes", () => {
  beforeAll(async () => {
    const started = keys.map((privateKey, i) =>
      ReplicaHandle.start({
        dir: join(base, `r${i}`),
        privateKey,
        port: 0,
        console: consoleAddress,
        nodes: nodeAddresses,
        snapshotEvery: 25,
      }),
    );
    // Keep every child that did start, so afterAll can stop it even if a sibling failed.
    const settled = await Promise.allSettled(started);
    for (const result of settled) if (result.status === "fulfilled") replicas.push(result.value);
    const failed = settled.find((result) => result.status === "rejected");
    if (failed) throw failed.reason;
    for (const [i, j] of pairs()) await dial(i, j);
    for (let n = 0; n < 8; n++) {
      await r(0).call({
        cmd: "write",
        key: instanceKey(n),
        set: { node: hostOf(n), build: `b${n}`, owner: consoleAddress },
      });
    }
    for (let i = 1; i < REPLICAS; i++) {
      await r(i).call({
        cmd: "write",
        key: `nodes/${addresses[i]}`,
        set: { heartbeat: 0, capacity: { vcpu: 2 } },
      });
    }
    await waitConverged(replicas, "initial convergence");
  });

  afterAll(async () => {
    await Promise.all(replicas.map((x) => x.stop("kill")));
    rmSync(base, { recursive: true, force: true });
  });

  it("converges to one state after random partitions and heals", async () => {
    const rand = prng(7);
    for (let round = 0; round < 3; round++) {
      const side = Array.from({ length: REPLICAS }, () => rand() < 0.5);
      side[0] = true;
      if (side.every(Boolean)) side[1 + Math.floor(rand() * 4)] = false;
      const cut = pairs().filter(([i, j]) => side[i] !== side[j]);
      for (const [i, j] of cut) await hangup(i, j);
      // Both sides write, including concurrent writes to the same instance documents and fields.
      for (let i = 0; i < REPLICAS; i++) {
        for (let w = 0; w < 3; w++) {
          const n = Math.floor(rand() * 8);
          if (i === 0) {
            await r(0).call({
              cmd: "write",
              key: instanceKey(n),
              set: { status: `console-${round}-${w}`, formnetIp: `10.42.0.${n + 2}` },
            });
            await r(0).call({
              cmd: "write",
              key: `peers/p${round}-${w}`,
              set: { ip: `10.42.1.${w}`, admin: false },
            });
          } else {
            const hosted = [0, 1, 2, 3, 4, 5, 6, 7].filter((m) => hostOf(m) === addresses[i]);
            const m = hosted[w % hosted.length] as number;
            await r(i).call({
              cmd: "write",
              key: instanceKey(m),
              set: { status: `node${i}-${round}-${w}`, metrics: { cpu: rand() } },
            });
            await r(i).call({
              cmd: "write",
              key: `nodes/${addresses[i]}`,
              set: { heartbeat: round * 10 + w },
            });
          }
        }
      }
      const left = replicas.filter((_, i) => side[i]);
      const right = replicas.filter((_, i) => !side[i]);
      await waitConverged(left, `side A of round ${round}`);
      await waitConverged(right, `side B of round ${round}`);
      expect((await left[0]?.status())?.digest).not.toBe((await right[0]?.status())?.digest);
      for (const [i, j] of cut) await dial(i, j);
      await waitConverged(replicas, `heal of round ${round}`);
    }
    const statuses = await Promise.all(replicas.map((x) => x.status()));
    expect(new Set(statuses.map((s) => s.digest)).size).toBe(1);
    expect(statuses.every((s) => Object.keys(s.stats.rejected).length === 0)).toBe(true);
    expect(statuses.map((s) => s.stats.pending)).toEqual([0, 0, 0, 0, 0]);
    expect(await r(3).call({ cmd: "get", key: "peers/p2-2" })).toMatchObject({ ip: "10.42.1.2" });
  });

  it("resumes a crashed replica from disk and sends it only what it lacks", async () => {
    const victim = r(3);
    const before = await victim.status();
    await victim.stop("kill");
    for (let w = 0; w < 30; w++) {
      await r(0).call({
        cmd: "write",
        key: `dns/rec${w}`,
        set: { name: `svc${w}.formnet`, type: "A", value: `10.42.2.${w}` },
      });
    }
    await victim.spawn();
    await victim.call({ cmd: "dial", peer: linkName(3, 4), url: r(4).url });
    await waitConverged(replicas, "restarted replica catching up");
    const after = await victim.status();
    const total = after.stats.changes;
    expect(total, JSON.stringify({ before: before.stats, after: after.stats })).toBe(
      before.stats.changes + 30,
    );
    // Each of four peers may offer the 30 missing changes once; a full resend would be `total` each.
    expect(after.stats.received).toBeLessThanOrEqual(4 * 30);
    expect(after.stats.received).toBeLessThan(total);
  });

  it("rejects unauthorized and forged changes on every replica and reports the sender", async () => {
    const digests = (await Promise.all(replicas.map((x) => x.status()))).map((s) => s.digest);
    const attacker = privateKeyToAccount(generatePrivateKey());
    for (const [index, target] of replicas.entries()) {
      const peer = await AttackerPeer.connect(target.url, attacker.address.toLowerCase());
      const history = await peer.fetchAll([instanceKey(1)]);
      const forged = await forgedEnvelopes({
        keys,
        addresses,
        attacker,
        history,
        instanceKey: instanceKey(1),
      });
      const before = target.rejected.length;
      peer.sendRaw("{not json");
      for (const { envelope } of forged) peer.sendEnvelopes([envelope]);
      await waitFor(async () => target.rejected.length - before >= forged.length, {
        timeoutMs: 20_000,
        what: `rejections at r${index}`,
      });
      const codes = target.rejected.slice(before).map((e) => e.code);
      expect(codes.sort()).toEqual(forged.map((f) => f.expect).sort());
      expect(target.rejected.slice(before).every((e) => e.peer === attacker.address.toLowerCase())).toBe(
        true,
      );
      const { stats } = await target.status();
      expect(stats.malformed[attacker.address.toLowerCase()]).toBe(1);
      peer.close();
    }
    const after = await Promise.all(replicas.map((x) => x.status()));
    expect(after.map((s) => s.digest)).toEqual(digests);
    // Rejected changes were never passed on: every replica saw them only from the attacker.
    for (const s of after) expect(Object.keys(s.stats.rejected)).toEqual([attacker.address.toLowerCase()]);
  });

  it("ignores a replay of old changes", async () => {
    const target = r(4);
    const before = await target.status();
    const peer = await AttackerPeer.connect(target.url, "0x000000000000000000000000000000000000dead");
    const all = await peer.fetchAll(undefined, before.stats.changes);
    expect(all.length).toBe(before.stats.changes);
    peer.sendEnvelopes(all);
    await waitFor(
      async () => (await target.status()).stats.duplicates - before.stats.duplicates >= all.length,
      {
        timeoutMs: 20_000,
        what: "replayed changes counted as duplicates",
      },
    );
    const after = await target.status();
    expect(after.digest).toBe(before.digest);
    expect(after.stats.changes).toBe(before.stats.changes);
    peer.close();
  });
});
