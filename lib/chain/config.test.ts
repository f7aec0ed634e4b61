import { describe, expect, it } from "vitest";
import { chainConfigFromEnv, chainFromConfig, nodeKeyFromAddress, parseChainFile } from "./config";

describe("chainConfigFromEnv", () => {
  it("returns undefined when no chain variable is set", () => {
    expect(chainConfigFromEnv({})).toBeUndefined();
  });

  it("parses and checksums a complete configuration", () => {
    const config = chainConfigFromEnv({
      CHAIN_RPC_URL: "https://rpc.example.org",
      CHAIN_ID: "8453",
      ORCHESTRATOR_ADDRESS: "0x5fbdb2315678afecb367f032d93f642f64180aa3",
    });
    expect(config).toEqual({
      rpcUrl: "https://rpc.example.org",
      chainId: 8453,
      orchestratorAddress: "0x5FbDB2315678afecb367f032d93F642f64180aa3",
    });
  });

  it("rejects a partial configuration, naming the variables", () => {
    expect(() => chainConfigFromEnv({ CHAIN_RPC_URL: "http://127.0.0.1:8545" })).toThrow(
      /ORCHESTRATOR_ADDRESS/,
    );
  });

  it("rejects a malformed address", () => {
    expect(() =>
      chainConfigFromEnv({
        CHAIN_RPC_URL: "http://127.0.0.1:8545",
        CHAIN_ID: "1",
        ORCHESTRATOR_ADDRESS: "0x1234",
      }),
    ).toThrow(/EVM address/);
  });
});

describe("chainFromConfig", () => {
  it("builds a viem chain for any id and RPC URL", () => {
    const chain = chainFromConfig({ chainId: 31337, rpcUrl: "http://127.0.0.1:9999" });
    expect(chain.id).toBe(31337);
    expect(chain.rpcUrls.default.http).toEqual(["http://127.0.0.1:9999"]);
  });
});

describe("nodeKeyFromAddress", () => {
  it("left-pads the address to 32 bytes, case-insensitively", () => {
    const key = nodeKeyFromAddress("0x5FbDB2315678afecb367f032d93F642f64180aa3");
    expect(key).toBe("0x0000000000000000000000005fbdb2315678afecb367f032d93f642f64180aa3");
    expect(nodeKeyFromAddress("0x5fbdb2315678afecb367f032d93f642f64180aa3")).toBe(key);
  });
});

describe("parseChainFile", () => {
  it("reads what the devnet writes and refuses anything else", () => {
    const text = JSON.stringify({
      rpcUrl: "http://127.0.0.1:8545",
      chainId: 31337,
      orchestratorAddress: "0x5FbDB2315678afecb367f032d93F642f64180aa3",
    });
    expect(parseChainFile(text).chainId).toBe(31337);
    expect(() => parseChainFile('{"rpcUrl":"x"}')).toThrow();
  });
});
