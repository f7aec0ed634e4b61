import { describe, expect, it } from "vitest";
import { createTestDatabase } from "./testing";

describe("createTestDatabase", () => {
  it("gives each caller an isolated database with the current schema", async () => {
    const a = await createTestDatabase();
    const b = await createTestDatabase();
    try {
      await a.prisma.account.create({ data: { address: "0x0000000000000000000000000000000000000001" } });
      expect(await a.prisma.account.count()).toBe(1);
      expect(await b.prisma.account.count()).toBe(0);
      expect(a.url).not.toBe(b.url);
    } finally {
      await a.cleanup();
      await b.cleanup();
    }
  });
});
