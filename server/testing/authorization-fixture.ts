import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { generatePrivateKey, type PrivateKeyAccount, privateKeyToAccount } from "viem/accounts";
import { signAction } from "@/lib/signing/sign-action";
import { callTrpc, startTestConsole, TEST_CONSOLE_ORIGIN, type TTestConsole } from "@/server/http/testing";
import { completeBoot, completeBuild, completeInstanceJob, sha256Digest } from "./agent-actions";
import { eventually, FakeAgent, randomWgKey } from "./fake-agent";
import { testFormfile } from "./platform";
import { type TTestRepositories, testRepositories } from "./repositories";

/**
 * The world of the authorization matrix (server/api/authorization.integration.test.ts): a real
 * console over HTTP with its default modules, five roles, a protocol agent that builds and boots,
 * and resources the owner holds — built builds, a deployment, instances, a formnet device.
 */

export const ROLES = ["anonymous", "other", "owner", "agent", "admin"] as const;
export type TRole = (typeof ROLES)[number];

/** Formfile NAMEs of the owner's builds: two of the app (ship, rollback) and one that never ends. */
const APP = "authz-app";
const UNFINISHED = "authz-unfinished";

export type TAuthzFixture = {
  console: TTestConsole;
  /** Repositories over the console's database (the matrix reads state directly). */
  repos: TTestRepositories;
  agent: FakeAgent;
  accounts: Record<Exclude<TRole, "anonymous">, PrivateKeyAccount>;
  owner: {
    address: string;
    /** An audit entry signed by the owner. */
    auditId: string;
    /** Built builds of NAME authz-app: `shipped` runs in deployment `deploymentId`, `spare` does not. */
    shipped: string;
    spare: string;
    deploymentId: string;
    /** A build the agent never finishes (cancellable), and the digest of a context the owner uploaded. */
    unfinished: string;
    contextDigest: string;
    /** A formnet device key the owner joined with. */
    deviceKey: string;
  };
  /** A running instance of the owner on the agent's node, one per `key` (created on first use). */
  instance(key: string): Promise<string>;
  /**
   * Signs `action` over `params` with the role's key. `anonymous` signs with a wallet nobody knows:
   * for signed procedures the signature IS the authentication, so "anonymous" is a stranger's wallet
   * (unsigned and forged input is checked by the matrix's generic sweep).
   */
  sign(role: TRole, action: string, params: unknown, contentDigest?: `0x${string}`): Promise<unknown>;
  close(): Promise<void>;
};

async function signedCall(fx: Pick<TAuthzFixture, "console">, path: string, input: unknown) {
  const res = await callTrpc({ url: fx.console.url, path, type: "mutation", input });
  if (!res.ok) throw new Error(`${path} failed while setting up: ${res.appCode} ${res.message}`);
  return res.data;
}

/** Starts the console and agent and gives the owner its builds, deployment, device and audit entry. */
export async function startAuthzFixture(): Promise<TAuthzFixture> {
  const accounts = {
    other: privateKeyToAccount(generatePrivateKey()),
    owner: privateKeyToAccount(generatePrivateKey()),
    agent: privateKeyToAccount(generatePrivateKey()),
    admin: privateKeyToAccount(generatePrivateKey()),
  };
  const dataDir = mkdtempSync(path.join(os.tmpdir(), "formation-authz-"));
  const console_ = await startTestConsole({
    env: {
      FORMATION_AGENT_ALLOWLIST: accounts.agent.address,
      FORMATION_ADMINS: accounts.admin.address,
      // The default modules run (control plane, terminal, state store): keep their files out of cwd.
      FORMATION_DATA_DIR: dataDir,
    },
  });
  const repos = testRepositories(console_.runtime.db);
  const sign: TAuthzFixture["sign"] = (role, action, params, contentDigest) =>
    signAction(role === "anonymous" ? privateKeyToAccount(generatePrivateKey()) : accounts[role], {
      action,
      params,
      origin: TEST_CONSOLE_ORIGIN,
      chainId: console_.env.chainId,
      ...(contentDigest ? { contentDigest } : {}),
    });
  // Builds and boots what it is offered, except the owner's build that must stay unfinished.
  const agent = await FakeAgent.connect({
    url: console_.url,
    account: accounts.agent,
    capacity: { vcpu: 64, memoryMb: 65_536, diskGb: 1_000 },
    serialLog: (id) => `serial console of ${id}\n`,
    onOffer: async (offer, a) => {
      if (offer.kind === "build") {
        if (offer.payload.formfile.name === UNFINISHED) a.send({ type: "job.ack", jobId: offer.jobId });
        else await completeBuild({ url: console_.url, agent: a, offer });
      } else if (offer.kind === "boot") completeBoot(a, offer);
      else completeInstanceJob(a, offer);
    },
  });
  const fx0 = { console: console_ };
  const owner = accounts.owner.address.toLowerCase();

  const build = async (name: string): Promise<{ buildId: string; contextDigest: string }> => {
    const context = randomBytes(256);
    const contextDigest = sha256Digest(context);
    const params = {
      formfile: testFormfile(name),
      contextDigest,
      contextBase64: context.toString("base64"),
    };
    const input = await sign("owner", "build.create", params, `0x${contextDigest.slice("sha256:".length)}`);
    const { buildId } = (await signedCall(fx0, "builds.create", input)) as { buildId: string };
    return { buildId, contextDigest };
  };
  const built = (buildId: string) =>
    eventually(async () => (await repos.builds.find(buildId))?.status === "built", {
      timeoutMs: 30_000,
      what: `build ${buildId} to be built`,
    });

  const shipped = await build(APP);
  await built(shipped.buildId);
  const spare = await build(APP);
  await built(spare.buildId);
  const ship = (await signedCall(
    fx0,
    "instances.ship",
    await sign("owner", "instance.ship", { buildId: shipped.buildId, replicas: 1 }),
  )) as { deployment: { deploymentId: string } };
  const unfinished = await build(UNFINISHED);
  const deviceKey = randomWgKey();
  await signedCall(
    fx0,
    "formnet.join",
    await sign("owner", "formnet.join", { publicKey: deviceKey, endpoints: [] }),
  );
  const actor = await console_.runtime.services.auth.signedActions.accept(
    await sign("owner", "build.cancel", { buildId: "b-1" }),
    "build.cancel",
  );
  await console_.runtime.services.auth.signedActions.audit(actor);

  const instances = new Map<string, Promise<string>>();
  const instance = (key: string): Promise<string> => {
    const existing = instances.get(key);
    if (existing !== undefined) return existing;
    const id = `i-${randomBytes(10).toString("hex")}`;
    const created = repos.instances
      .create({
        id,
        deploymentId: `d-authz-${key}`,
        buildId: shipped.buildId,
        owner,
        nodeId: agent.nodeId,
        status: "running",
        desired: "running",
        formnetIp: null,
        imageDigest: `sha256:${"a".repeat(64)}`,
        vcpu: 1,
        memoryMb: 512,
        diskGb: 5,
      })
      .then(() => {
        agent.instances.set(id, "running");
        return id;
      });
    instances.set(key, created);
    return created;
  };

  return {
    console: console_,
    repos,
    agent,
    accounts,
    owner: {
      address: owner,
      auditId: actor.auditId,
      shipped: shipped.buildId,
      spare: spare.buildId,
      deploymentId: ship.deployment.deploymentId,
      unfinished: unfinished.buildId,
      contextDigest: shipped.contextDigest,
      deviceKey,
    },
    instance,
    sign,
    async close() {
      await agent.close();
      await console_.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
