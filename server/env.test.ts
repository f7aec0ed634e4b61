import { describe, expect, it } from "vitest";
import { loadEnv } from "./env";

describe("loadEnv", () => {
  it("applies defaults: port 3000, SQLite in the data dir, chain 31337, origin from port", () => {
    const env = loadEnv({});
    expect(env).toMatchObject({
      port: 3000,
      databaseProvider: "sqlite",
      databaseUrl: "file:.data/console.db",
      chainId: 31337,
      consoleOrigin: "http://localhost:3000",
      sessionTtlSeconds: 7 * 24 * 3600,
      admins: [],
    });
  });

  it("detects PostgreSQL, normalises origin and address lists", () => {
    const env = loadEnv({
      DATABASE_URL: "postgresql://u@db/formation",
      CONSOLE_ORIGIN: "https://Console.Example.org/some/path",
      FORMATION_ADMINS: " 0xAbCdEf0123456789abcdef0123456789ABCDEF01 ,",
      FORMATION_DATA_DIR: "/var/lib/formation",
    });
    expect(env.databaseProvider).toBe("postgresql");
    expect(env.consoleOrigin).toBe("https://console.example.org");
    expect(env.admins).toEqual(["0xabcdef0123456789abcdef0123456789abcdef01"]);
  });

  it("reads state-store peer consoles and refuses what is not an http(s) URL", () => {
    expect(loadEnv({}).stateStorePeers).toEqual([]);
    const env = loadEnv({ FORMATION_STATESTORE_PEERS: "http://10.0.0.2:3000, https://c3.example.org ," });
    expect(env.stateStorePeers).toEqual(["http://10.0.0.2:3000", "https://c3.example.org"]);
    expect(() => loadEnv({ FORMATION_STATESTORE_PEERS: "ws://c2:3000" })).toThrow(
      /FORMATION_STATESTORE_PEERS/,
    );
  });

  it("lists every invalid variable in one error", () => {
    expect(() =>
      loadEnv({ PORT: "http", CHAIN_ID: "-1", FORMATION_AGENT_ALLOWLIST: "0x12", DATABASE_URL: "mysql://x" }),
    ).toThrow(/PORT[\s\S]*CHAIN_ID[\s\S]*FORMATION_AGENT_ALLOWLIST/);
    expect(() => loadEnv({ DATABASE_URL: "mysql://x" })).toThrow(/DATABASE_URL/);
  });
});
