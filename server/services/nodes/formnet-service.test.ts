import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { applyPeerUpdate, parseConsoleMessage, type TFormnetPeer } from "@/lib/protocol";
import { createFormnetRepository } from "@/server/db/repositories/formnet-repository";
import { createTestDatabase, type TTestDatabase } from "@/server/db/testing";
import { InProcessNotifier } from "@/server/gateway/notifier";
import { FormnetService } from "./formnet-service";

const key = (i: number) => Buffer.alloc(32, i).toString("base64");

let db: TTestDatabase;
let formnet: FormnetService;

beforeEach(async () => {
  db = await createTestDatabase();
  formnet = new FormnetService({
    repo: createFormnetRepository(db.prisma),
    notifier: new InProcessNotifier(),
  });
});
afterEach(async () => {
  await db.cleanup();
});

describe("FormnetService", () => {
  it("gives concurrent joins distinct lowest addresses and a returning ref its own", async () => {
    const ips = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        formnet.allocate({ kind: "node", ref: `n-${i}`, publicKey: key(i), endpoints: [] }),
      ),
    );
    expect(new Set(ips).size).toBe(40);
    expect([...ips].sort()).toEqual(Array.from({ length: 40 }, (_, i) => `10.42.0.${i + 1}`).sort());
    expect(await formnet.allocate({ kind: "node", ref: "n-7", publicKey: key(7), endpoints: [] })).toBe(
      ips[7],
    );
    // A second service (another console on the same database) does not hand out taken addresses.
    const other = new FormnetService({
      repo: createFormnetRepository(db.prisma),
      notifier: new InProcessNotifier(),
    });
    expect(await other.allocate({ kind: "user", ref: "u-1", publicKey: key(99), endpoints: [] })).toBe(
      "10.42.0.41",
    );
  });

  it("keeps the peer cache current through allocations, key changes and releases", async () => {
    await formnet.allocate({ kind: "node", ref: "n-a", publicKey: key(1), endpoints: ["1.1.1.1:1"] });
    await formnet.allocate({ kind: "instance", ref: "i-nokey" });
    expect((await formnet.peers()).map((p) => p.ref)).toEqual(["n-a"]);
    await formnet.allocate({ kind: "node", ref: "n-b", publicKey: key(2), endpoints: [] });
    await formnet.allocate({ kind: "node", ref: "n-a", publicKey: key(3), endpoints: ["2.2.2.2:2"] });
    const peers = await formnet.peers();
    expect(peers.map((p) => [p.ref, p.publicKey, p.endpoints])).toEqual([
      ["n-a", key(3), ["2.2.2.2:2"]],
      ["n-b", key(2), []],
    ]);
    await formnet.release("n-a");
    expect((await formnet.peers()).map((p) => p.ref)).toEqual(["n-b"]);
  });

  it("pages the full list into frames that merge back into the whole list", async () => {
    for (let i = 0; i < 5; i++) {
      await formnet.allocate({ kind: "node", ref: `n-${i}`, publicKey: key(i), endpoints: [] });
    }
    const frames = await formnet.fullFrames(2);
    expect(frames).toHaveLength(3);
    expect(await formnet.fullFrames(2)).toBe(frames);
    let merged: TFormnetPeer[] = [
      { publicKey: key(9), ip: "10.42.9.9", endpoints: [], kind: "node", ref: "old" },
    ];
    const fulls: (boolean | undefined)[] = [];
    for (const f of frames) {
      const parsed = parseConsoleMessage(f);
      if (!parsed.ok || parsed.message.type !== "formnet.peers") throw new Error("not a peers frame");
      fulls.push(parsed.message.full);
      merged = applyPeerUpdate(merged, parsed.message);
    }
    expect(fulls).toEqual([true, false, false]);
    expect(merged).toEqual(await formnet.peers());
    expect(await formnet.fullFrames()).toHaveLength(1);
    // An empty mesh still gets one (empty, full) frame, which clears stale peers on the agent.
    await Promise.all([0, 1, 2, 3, 4].map((i) => formnet.release(`n-${i}`)));
    expect(await formnet.fullFrames(2)).toEqual(['{"type":"formnet.peers","peers":[],"full":true}']);
  });
});

describe("FormnetService: one member per WireGuard key (issue #23)", () => {
  it("the database refuses a second row with a key, whatever the kind", async () => {
    const repo = createFormnetRepository(db.prisma);
    const row = { kind: "node" as const, ref: "n-1", publicKey: key(1), endpoints: "[]" };
    expect(await repo.tryInsert({ ip: "10.42.0.1", ...row })).toBe(true);
    expect(await repo.tryInsert({ ip: "10.42.0.2", ...row, kind: "user" as const, ref: "0xu:k" })).toBe(
      false,
    );
    // Rows without a key (instances before boot) do not collide.
    const noKey = { kind: "instance" as const, publicKey: null, endpoints: null };
    expect(await repo.tryInsert({ ip: "10.42.0.3", ...noKey, ref: "i-1" })).toBe(true);
    expect(await repo.tryInsert({ ip: "10.42.0.4", ...noKey, ref: "i-2" })).toBe(true);
  });

  it("answers CONFLICT for a held key on insert and on a key change, and the address is not lost", async () => {
    await formnet.allocate({ kind: "node", ref: "n-1", publicKey: key(1), endpoints: [] });
    await expect(formnet.allocate({ kind: "instance", ref: "i-1", publicKey: key(1) })).rejects.toMatchObject(
      {
        code: "CONFLICT",
      },
    );
    await formnet.allocate({ kind: "instance", ref: "i-2" });
    await expect(formnet.allocate({ kind: "instance", ref: "i-2", publicKey: key(1) })).rejects.toMatchObject(
      {
        code: "CONFLICT",
      },
    );
    await expect(
      formnet.joinDevice({ owner: "0xU", publicKey: key(1), endpoints: [] }),
    ).rejects.toMatchObject({
      code: "CONFLICT",
      message: expect.stringMatching(/form manage join/),
    });
    expect((await formnet.peers()).filter((p) => p.publicKey === key(1))).toHaveLength(1);
    // The refused inserts did not keep an address reserved: the next member gets 10.42.0.3.
    expect(await formnet.joinDevice({ owner: "0xU", publicKey: key(2), endpoints: [] })).toBe("10.42.0.3");
  });

  it("caps devices per owner; leaving frees the slot and the key", async () => {
    const capped = new FormnetService({
      repo: createFormnetRepository(db.prisma),
      notifier: new InProcessNotifier(),
      maxDevicesPerUser: 2,
    });
    await capped.joinDevice({ owner: "0xU", publicKey: key(1), endpoints: [] });
    await capped.joinDevice({ owner: "0xu", publicKey: key(2), endpoints: [] });
    await expect(capped.joinDevice({ owner: "0xu", publicKey: key(3), endpoints: [] })).rejects.toMatchObject(
      {
        code: "PRECONDITION_FAILED",
      },
    );
    expect(await capped.leaveDevice({ owner: "0xu", publicKey: key(1) })).toBe(true);
    expect(await capped.leaveDevice({ owner: "0xu", publicKey: key(1) })).toBe(false);
    await capped.joinDevice({ owner: "0xu", publicKey: key(3), endpoints: [] });
    await capped.joinDevice({ owner: "0xv", publicKey: key(1), endpoints: [] });
  });
});
