import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { getAddress } from "viem";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ConfigError } from "./errors";
import { loadConfig, parseConfig, saveConfig } from "./load";
import { parsePrivateKey, resolvePassword } from "./operator-key";
import { dataPaths, digestHex, imagePathFor } from "./paths";
import type { TPrompter } from "./prompt";
import type { TAgentConfigInput } from "./schema";
import { collectInitAnswers } from "./wizard";

const valid: TAgentConfigInput = {
  version: 1,
  operator: { address: `0x${"ab".repeat(20)}`, keystorePath: "keystore.json" },
  console: { url: "http://127.0.0.1:3000" },
  node: { region: "eu-west", capacity: { vcpu: 2, memoryMb: 2048, diskGb: 20 } },
  dataDir: "/var/lib/formation/node-agent",
  formnet: {},
  network: {},
};

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error("expected a ConfigError");
}

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "agent-config-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("agent config", () => {
  it("fills defaults for formnet, network, jobs and cache", () => {
    const config = parseConfig(valid);
    expect(config.formnet).toEqual({ enabled: true, listenPort: 51820, endpoints: [] });
    expect(config.network.bridgeName).toBeUndefined();
    expect(config.jobs.maxConcurrent).toBe(2);
    expect(config.cacheDir).toBe("/var/cache/formation");
    expect(config.chain).toBeUndefined();
  });

  it("lists every invalid field by path", () => {
    const error = configError(() =>
      parseConfig({
        ...valid,
        console: { url: "ftp://x" },
        node: { region: "EU West", capacity: { vcpu: 0, memoryMb: 2048, diskGb: 20 } },
        dataDir: "relative/dir",
        network: { bridgeName: "a-bridge-name-far-too-long" },
      }),
    );
    expect(error.code).toBe("invalid");
    for (const field of [
      "console.url",
      "node.region",
      "node.capacity.vcpu",
      "dataDir",
      "network.bridgeName",
    ]) {
      expect(error.message).toContain(field);
    }
  });

  it("rejects a chain section with a bad contract address", () => {
    const error = configError(() =>
      parseConfig({ ...valid, chain: { rpcUrl: "http://127.0.0.1:8545", contractAddress: "0x123" } }),
    );
    expect(error.message).toContain("chain.contractAddress");
  });

  it("round-trips through disk and reports missing or broken files with typed codes", async () => {
    const path = join(dir, "agent.json");
    await saveConfig(path, valid);
    expect((await loadConfig(path)).node.region).toBe("eu-west");
    await expect(loadConfig(join(dir, "nope.json"))).rejects.toMatchObject({ code: "notFound" });
    await writeFile(path, "{ not json");
    await expect(loadConfig(path)).rejects.toMatchObject({ code: "invalid" });
  });

  it("lays out the data directory and content-addresses images", () => {
    const paths = dataPaths("/d", parseConfig(valid));
    expect(paths.keystore).toBe("/d/keystore.json");
    expect(paths.jobs).toBe("/d/jobs");
    const digest = `sha256:${"C".repeat(64)}`;
    expect(imagePathFor(paths, digest)).toBe(`/d/images/sha256-${"c".repeat(64)}.img`);
    expect(() => digestHex("sha256:../../etc/passwd")).toThrow(TypeError);
  });
});

describe("operator key inputs", () => {
  it("accepts hex keys with or without 0x and rejects anything else", () => {
    expect(parsePrivateKey(`0x${"AA".repeat(32)}`)).toBe(`0x${"aa".repeat(32)}`);
    expect(parsePrivateKey("11".repeat(32))).toBe(`0x${"11".repeat(32)}`);
    expect(configError(() => parsePrivateKey("0x1234")).code).toBe("invalid");
  });

  it("resolves the password from flag, env, then file", async () => {
    const file = join(dir, "pw");
    await writeFile(file, "from-file-pw\n");
    expect(await resolvePassword({ password: "flag-pw", env: { NODE_AGENT_PASSWORD: "env-pw" } })).toBe(
      "flag-pw",
    );
    expect(await resolvePassword({ env: { NODE_AGENT_PASSWORD: "env-pw" } })).toBe("env-pw");
    expect(await resolvePassword({ env: { NODE_AGENT_PASSWORD_FILE: file } })).toBe("from-file-pw");
    expect(await resolvePassword({ env: {} })).toBeUndefined();
    await expect(resolvePassword({ passwordFile: join(dir, "missing"), env: {} })).rejects.toMatchObject({
      code: "noPassword",
    });
  });
});

/** Answers questions from a script keyed by a fragment of the question text. */
function scriptedPrompter(script: Record<string, string>): TPrompter & { asked: string[] } {
  const asked: string[] = [];
  const answer = (question: string, fallback = "") => {
    asked.push(question);
    const key = Object.keys(script).find((k) => question.includes(k));
    return Promise.resolve(key === undefined ? fallback : (script[key] ?? fallback));
  };
  return {
    asked,
    ask: (q, d) => answer(q, d),
    secret: (q) => answer(q),
    confirm: async (q, d) => (await answer(q, d ? "y" : "n")).startsWith("y"),
    close: () => {},
  };
}

const host = { vcpu: 3, memoryMb: 7000, diskGb: 90 };

describe("init wizard", () => {
  it("--yes takes flags and host defaults without asking anything", async () => {
    const prompter = scriptedPrompter({});
    const answers = await collectInitAnswers({
      flags: { yes: true, generateKey: true, password: "long-enough", region: "us-east", dataDir: dir },
      prompter,
      host,
    });
    expect(prompter.asked).toEqual([]);
    expect(answers.key).toEqual({ kind: "generate" });
    const config = parseConfig({ ...answers.config, operator: { ...answers.config.operator } });
    expect(config.node).toEqual({ region: "us-east", capacity: { vcpu: 3, memoryMb: 7000, diskGb: 90 } });
    expect(config.chain).toBeUndefined();
  });

  it("asks only what the flags left open and imports a key typed as a secret", async () => {
    const prompter = scriptedPrompter({
      "Operator key": "i",
      "Private key": "22".repeat(32),
      "Keystore password": "hunter2hunter2",
      "Repeat the password": "hunter2hunter2",
      "Chain RPC URL": "http://127.0.0.1:8545",
      "contract address": `0x${"cd".repeat(20)}`,
      vCPUs: "2",
      endpoint: "203.0.113.7:51820, 198.51.100.1:51820",
    });
    const answers = await collectInitAnswers({ flags: { dataDir: dir, region: "lab" }, prompter, host });
    expect(answers.key).toEqual({ kind: "import", privateKey: `0x${"22".repeat(32)}` });
    expect(answers.password).toBe("hunter2hunter2");
    expect(prompter.asked.some((q) => q.startsWith("Region"))).toBe(false);
    const config = parseConfig(answers.config);
    expect(config.chain).toEqual({
      rpcUrl: "http://127.0.0.1:8545",
      contractAddress: getAddress(`0x${"cd".repeat(20)}`),
      chainId: 31337,
      stakeWei: "1000000000000000000",
    });
    expect(config.node.capacity.vcpu).toBe(2);
    expect(config.formnet.endpoints).toEqual(["203.0.113.7:51820", "198.51.100.1:51820"]);
  });

  it("refuses non-interactive init without a password and short passwords", async () => {
    await expect(collectInitAnswers({ flags: { yes: true, dataDir: dir }, host })).rejects.toMatchObject({
      code: "noPassword",
    });
    await expect(
      collectInitAnswers({ flags: { yes: true, dataDir: dir, password: "short" }, host }),
    ).rejects.toMatchObject({ code: "invalid" });
  });

  it("will not overwrite an existing keystore without --force", async () => {
    const existingKeystore = async () => "0xabc";
    const flags = { yes: true, dataDir: dir, password: "long-enough", generateKey: true };
    await expect(collectInitAnswers({ flags, host, existingKeystore })).rejects.toThrow(/already exists/);
    const forced = await collectInitAnswers({ flags: { ...flags, force: true }, host, existingKeystore });
    expect(forced.key.kind).toBe("generate");
    const kept = await collectInitAnswers({
      flags: { ...flags, generateKey: false },
      host,
      existingKeystore,
    });
    expect(kept.key.kind).toBe("keep");
  });

  it("turns a non-numeric capacity answer into a config error naming the field", async () => {
    const answers = await collectInitAnswers({
      flags: { dataDir: dir, password: "long-enough", generateKey: true },
      prompter: scriptedPrompter({ "Memory offered": "lots" }),
      host,
    });
    expect(configError(() => parseConfig(answers.config)).message).toContain("node.capacity.memoryMb");
  });
});
