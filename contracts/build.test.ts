import { describe, expect, it } from "vitest";
import { orchestratorAbi, orchestratorSourceHash } from "../lib/chain/abi";
import { compileSources, hashSources, readSources, renderAbiModule } from "./build";

describe("contracts build", () => {
  it("lib/chain/abi.ts matches the Solidity sources (run `npx tsx contracts/build.ts` when this fails)", async () => {
    const sources = await readSources();
    expect(orchestratorSourceHash).toBe(hashSources(sources));
  });

  it("the committed ABI equals a fresh solc-js compilation", async () => {
    const artifacts = await compileSources(await readSources());
    const orchestrator = artifacts.find((a) => a.contractName === "Orchestrator");
    expect(orchestrator?.bytecode.length).toBeGreaterThan(1000);
    expect(orchestrator?.abi).toEqual(orchestratorAbi);
  }, 60_000); // solc-js compiles in ~3 s on an idle machine, several times that on a loaded one

  it("reports solc errors with the compiler's message", async () => {
    await expect(
      compileSources({ "Broken.sol": "pragma solidity 0.8.30; contract B { function f( }" }),
    ).rejects.toThrow(/ParserError/);
  }, 60_000);

  it("renders the ABI module with the source hash", () => {
    const text = renderAbiModule({
      contractName: "Orchestrator",
      sourceName: "Orchestrator.sol",
      solcVersion: "x",
      sourceHash: "abc",
      abi: [{ type: "function", name: "f", inputs: [] }],
      bytecode: "0x00",
      deployedBytecode: "0x00",
    });
    expect(text).toContain('export const orchestratorSourceHash = "abc";');
    expect(text).toContain('    name: "f",\n    inputs: [],\n');
  });
});
