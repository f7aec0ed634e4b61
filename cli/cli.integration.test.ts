import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createPublicClient, http } from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startDevnet, type TDevnet } from "../contracts/devnet";
import { buildIdToBytes32, imageDigestToBytes32 } from "../lib/chain/commitment";
import { chainFromConfig } from "../lib/chain/config";
import { readBuildCommitment } from "../lib/chain/read";
import { completeEveryJob } from "../server/testing/agent-actions";
import { eventually, FakeAgent } from "../server/testing/fake-agent";
import { startTestPlatform, type TTestPlatform } from "../server/testing/platform";
import { EXAMPLE_DIR, jsonOf, runForm } from "./testing";

/**
 * The `form` binary as a child process against a real in-process console (real SQLite, real HTTP,
 * real agent WebSocket). A protocol-speaking fake agent completes jobs so the whole workflow runs
 * in seconds; cli/spine.integration.test.ts does the same with the real agent and QEMU.
 */

const PASSWORD = "correct horse battery";
const ownerKey = generatePrivateKey();
const owner = privateKeyToAccount(ownerKey);
const operator = privateKeyToAccount(generatePrivateKey());

let platform: TTestPlatform;
let devnet: TDevnet;
let agent: FakeAgent;
let dir = "";
let env: Record<string, string> = {};
let buildId = "";

const form = (args: string[], extra: Record<string, string> = {}) =>
  runForm({ args, env: { ...env, ...extra } });

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "form-cli-"));
  // A real Hardhat node: `pack ship` signs the build commitment and the console relays it there.
  devnet = await startDevnet({ port: 0, dataDir: join(dir, "chain") });
  platform = await startTestPlatform({
    operators: [operator.address],
    env: {
      CHAIN_RPC_URL: devnet.rpcUrl,
      CHAIN_ID: String(devnet.chainId),
      ORCHESTRATOR_ADDRESS: devnet.orchestratorAddress,
    },
  });
  agent = await FakeAgent.connect({
    url: platform.url,
    account: operator,
    onOffer: completeEveryJob(platform.url),
  });
  env = { FORMKIT: join(dir, "kit"), FORM_PASSWORD: PASSWORD };
}, 60_000);

afterAll(async () => {
  await agent?.close();
  await platform?.close();
  await devnet?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("form CLI against a real console", () => {
  it("kit init imports a key, encrypts it at rest and stores the host", async () => {
    const run = await form([
      "kit",
      "init",
      "--yes",
      "--private-key",
      ownerKey,
      "--host",
      platform.url,
      "--scrypt-n",
      "1024",
      "--json",
    ]);
    expect(run.code, run.stderr).toBe(0);
    expect(jsonOf(run)).toMatchObject({ address: owner.address, host: platform.url, consoleReachable: true });
    const keystore = await readFile(join(env.FORMKIT ?? "", "keystore.json"), "utf8");
    expect(keystore).not.toContain(ownerKey.slice(2));
    expect((await stat(join(env.FORMKIT ?? "", "keystore.json"))).mode & 0o777).toBe(0o600);
    const again = await form(["kit", "init", "--yes", "--host", platform.url]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain("--force");
  });

  it("pack build packs, signs, uploads and follows the log until the build ends", async () => {
    const run = await form(["pack", "build", EXAMPLE_DIR, "--json"]);
    expect(run.code, run.stderr).toBe(0);
    const out = jsonOf<{ buildId: string; status: string; name: string; imageDigest: string }>(run);
    expect(out).toMatchObject({ name: "hello-server", status: "built" });
    expect(out.imageDigest).toMatch(/^sha256:/);
    // With --json, log lines go to stderr so stdout stays one JSON document.
    expect(run.stderr).toContain("step 1/1: RUN true");
    buildId = out.buildId;
    const stored = JSON.parse(await readFile(join(env.FORMKIT ?? "", "builds.json"), "utf8"));
    expect(stored[EXAMPLE_DIR]).toMatchObject({ buildId });
  });

  it("pack status shows the phase, timings and (no) instances", async () => {
    const run = await form(["pack", "status", "--build-id", buildId]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain(`build ${buildId}`);
    expect(run.stdout).toMatch(/status\s+built/);
    expect(run.stdout).toContain("form pack ship");
    const json = jsonOf<{ build: { status: string }; timings: Array<{ phase: string }> }>(
      await form(["pack", "status", "--build-id", buildId, "--json"]),
    );
    expect(json.build.status).toBe("built");
    expect(json.timings.map((t) => t.phase)).toContain("built");
  });

  it("pack ship deploys the directory's latest build and waits for it", async () => {
    const run = await form(["pack", "ship", EXAMPLE_DIR, "--replicas", "1", "--wait", "--json"]);
    expect(run.code, run.stderr).toBe(0);
    const out = jsonOf<{
      instances: Array<{ status: string; formnetIp: string }>;
      commitment: { state: string; txHash: string | null; existing: boolean };
    }>(run);
    expect(out.commitment).toMatchObject({ state: "confirmed", existing: false });
    expect(out.commitment.txHash).toMatch(/^0x[0-9a-f]{64}$/);
    expect(out.instances).toHaveLength(1);
    expect(out.instances[0]).toMatchObject({ status: "running" });
    expect(out.instances[0]?.formnetIp).toMatch(/^10\.42\./);
  });

  it("a second pack ship links the commitment already on chain; the contract holds the digest", async () => {
    const run = await form(["pack", "ship", EXAMPLE_DIR, "--replicas", "1", "--wait"]);
    expect(run.code, run.stderr).toBe(0);
    // Shipped twice: the second ship links the commitment the first one put on chain.
    expect(run.stdout).toMatch(
      /commitment: confirmed, already on chain — sha256:[0-9a-f]{64} on chain 31337 tx 0x[0-9a-f]{64} \(block \d+\)/,
    );
    const status = jsonOf<{ build: { imageDigest: string } }>(
      await form(["pack", "status", "--build-id", buildId, "--json"]),
    );
    const client = createPublicClient({
      chain: chainFromConfig({ chainId: devnet.chainId, rpcUrl: devnet.rpcUrl }),
      transport: http(devnet.rpcUrl, { retryCount: 0 }),
    });
    const stored = await readBuildCommitment({
      client,
      contract: devnet.orchestratorAddress,
      owner: owner.address,
      buildId: buildIdToBytes32(buildId),
    });
    expect(stored?.imageDigest).toBe(imageDigestToBytes32(status.build.imageDigest));
  });

  it("manage get-ip lists the formnet addresses", async () => {
    const run = await form(["manage", "get-ip", "--build-id", buildId, "--json"]);
    expect(run.code, run.stderr).toBe(0);
    const rows = jsonOf<Array<{ formnetIp: string; status: string; instanceId: string }>>(run);
    expect(rows).toHaveLength(1);
    expect(rows[0]?.formnetIp).toMatch(/^10\.42\.\d+\.\d+$/);
    const human = await form(["manage", "get-ip", "--build-id", buildId]);
    expect(human.stdout).toContain(rows[0]?.formnetIp ?? "none");
  });

  it("manage join registers a WireGuard public key and stores the tunnel config (key stays local)", async () => {
    const run = await form(["manage", "join", "--json"]);
    expect(run.code, run.stderr).toBe(0);
    const out = jsonOf<{ address: string; publicKey: string; peers: number }>(run);
    expect(out.address).toMatch(/^10\.42\./);
    expect(out.peers).toBeGreaterThanOrEqual(1);
    const privateKey = (await readFile(join(env.FORMKIT ?? "", "formnet", "formnet.key"), "utf8")).trim();
    const config = JSON.parse(
      await readFile(join(env.FORMKIT ?? "", "formnet", "formnet-config.json"), "utf8"),
    );
    expect(config.address).toBe(out.address);
    expect(JSON.stringify(config)).not.toContain(privateKey);
    const status = await platform.repos.formnet.list();
    expect(status.some((r) => r.publicKey === out.publicKey)).toBe(true);
    expect(status.some((r) => r.publicKey === privateKey)).toBe(false);
    const left = await form(["manage", "leave", "--json"]);
    expect(left.code, left.stderr).toBe(0);
    expect(jsonOf(left)).toMatchObject({ left: true });
  });

  it("manage stop --suspend suspends the running instances and start resumes them", async () => {
    const run = await form(["manage", "stop", "--suspend", "--build-id", buildId]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^suspend requested: i-[0-9a-f]{20} \(now stopping; suspended once/);
    const statuses = async () =>
      jsonOf<Array<{ status: string }>>(
        await form(["manage", "get-ip", "--build-id", buildId, "--json"]),
      ).map((r) => r.status);
    await eventually(async () => (await statuses()).every((s) => s === "suspended"), { what: "suspended" });
    const none = await form(["manage", "stop", "--suspend", "--build-id", buildId]);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain("no running instances to suspend");
    const resumed = await form(["manage", "start", "--build-id", buildId]);
    expect(resumed.code, resumed.stderr).toBe(0);
    await eventually(async () => (await statuses()).every((s) => s === "running"), { what: "resumed" });
  });

  it("manage stop / start / delete act on the build's instances", async () => {
    for (const verb of ["stop", "start", "delete"]) {
      const run = await form(["manage", verb, "--build-id", buildId, "--json"]);
      expect(run.code, `${verb}: ${run.stderr}`).toBe(0);
      expect(jsonOf<unknown[]>(run)).toHaveLength(1);
      // Without --instance, delete ends the whole deployment in one call.
      if (verb === "delete")
        expect(jsonOf<unknown[]>(run)[0]).toMatchObject({ deletedInstances: [expect.any(String)] });
    }
    const bogus = await form([
      "manage",
      "stop",
      "--build-id",
      buildId,
      "--instance",
      "i-00000000000000000000",
    ]);
    expect(bogus.code).toBe(1);
  });

  it("maps errors to exit codes and actionable messages", async () => {
    const unknown = await form(["pack", "status", "--build-id", "f".repeat(64), "--json"]);
    expect(unknown.code).toBe(1);
    expect(jsonOf<{ error: { appCode: string } }>(unknown).error.appCode).toBe("NOT_FOUND");
    expect(unknown.stderr).toMatch(/^form: .+ — /);

    const malformed = await form(["pack", "status", "--build-id", "nope"]);
    expect(malformed.code).toBe(1);
    expect(malformed.stderr).toContain("64 hex characters");

    const badPassword = await form(["pack", "status", "--build-id", buildId, "--password", "wrong password"]);
    expect(badPassword.code).toBe(1);
    expect(badPassword.stderr).toContain("wrong keystore password");

    const locked = await form(["pack", "status", "--build-id", buildId], { FORM_PASSWORD: "" });
    expect(locked.code).toBe(1);
    expect(locked.stderr).toContain("FORM_PASSWORD");

    const down = await form(["pack", "status", "--build-id", buildId, "--host", "http://127.0.0.1:9"]);
    expect(down.code).toBe(2);
    expect(down.stderr).toContain("cannot reach the console");

    const noShip = await form(["pack", "ship", dir]);
    expect(noShip.code).toBe(1);
    expect(noShip.stderr).toContain("no build was made from");

    const noConfig = await form(["pack", "status", "--build-id", buildId], { FORMKIT: join(dir, "empty") });
    expect(noConfig.code).toBe(1);
    expect(noConfig.stderr).toContain("form kit init");
  });

  it("pack build --detach returns at once with the build id, the same id for the same inputs", async () => {
    const run = await form(["pack", "build", EXAMPLE_DIR, "--detach", "--json"]);
    expect(run.code, run.stderr).toBe(0);
    const { buildId } = jsonOf<{ buildId: string }>(run);
    expect(buildId).toMatch(/^[0-9a-f]{64}$/);
    // Content-addressed: the password hash is salted per owner, so a rebuild is the same build.
    const again = await form(["pack", "build", EXAMPLE_DIR, "--detach", "--json"]);
    expect(jsonOf<{ buildId: string }>(again).buildId).toBe(buildId);
  });

  it("help lists every command with descriptions and examples", async () => {
    const top = await form(["--help"]);
    expect(top.code).toBe(0);
    for (const group of ["kit", "pack", "manage"]) expect(top.stdout).toContain(group);
    const manage = await form(["manage", "--help"]);
    for (const verb of ["join", "formnet-up", "leave", "get-ip", "start", "stop", "restart", "delete"])
      expect(manage.stdout).toContain(verb);
    const pack = await form(["pack", "--help"]);
    for (const verb of ["validate", "build", "status", "ship", "rollback"])
      expect(pack.stdout).toContain(verb);
    const build = await form(["pack", "build", "--help"]);
    expect(build.stdout).toContain("--detach");
    expect(build.stdout).toContain("Examples:");
  });
});
