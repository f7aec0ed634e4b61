import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createTestDatabase, type TTestDatabase } from "./testing";

const A = "0x00000000000000000000000000000000000000aa";
const B = "0x00000000000000000000000000000000000000bb";

// SQLite runs on one better-sqlite3 connection. A statement of another request issued while an
// interactive transaction is open used to run inside that transaction and vanish with its rollback
// (a ship whose signed-action transaction of another request rolled back left no deployment).
describe("the SQLite client", () => {
  let t: TTestDatabase;
  beforeEach(async () => {
    t = await createTestDatabase();
  });
  afterEach(async () => {
    await t.cleanup();
  });

  it("runs another request's write after an open transaction, so its rollback cannot take the write", async () => {
    const events: string[] = [];
    let opened!: () => void;
    const isOpen = new Promise<void>((resolve) => {
      opened = resolve;
    });
    const failing = t.prisma
      .$transaction(async (tx) => {
        await tx.account.create({ data: { address: A } });
        opened();
        // Queries of its own give the other request's write every chance to run meanwhile.
        for (let i = 0; i < 20; i += 1) await tx.account.count();
        events.push("transaction ends");
        throw new Error("this request fails");
      })
      .catch((error: unknown) => error);
    await isOpen;
    const other = t.prisma.account
      .create({ data: { address: B } })
      .then(() => events.push("other write done"));
    expect(await failing).toBeInstanceOf(Error);
    await other;
    expect(events).toEqual(["transaction ends", "other write done"]);
    expect((await t.prisma.account.findMany()).map((a) => a.address)).toEqual([B]);
  });

  it("still commits transactions and plain writes interleaved from many requests", async () => {
    const addresses = Array.from({ length: 30 }, (_, i) => `0x${i.toString(16).padStart(40, "0")}`);
    await Promise.all(
      addresses.map((address, i) =>
        i % 2 === 0
          ? t.prisma.$transaction(async (tx) => {
              await tx.account.create({ data: { address } });
              await tx.account.count();
            })
          : t.prisma.account.create({ data: { address } }),
      ),
    );
    expect(await t.prisma.account.count()).toBe(addresses.length);
  });
});
