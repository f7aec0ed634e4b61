/**
 * Authorization matrix: every procedure of the appRouter, called over real HTTP as each role.
 *
 * To cover a new procedure, add a row to CASES (path, type, input builder, expected outcome per
 * role). Procedures without a row still get the generic sweep at the bottom (anonymous callers
 * and non-admins are refused according to the procedure's declared `meta.access`), so nothing is
 * silently unprotected — but only a row proves owners are separated from other users.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { AnyProcedure } from "@trpc/server";
import { generatePrivateKey, type PrivateKeyAccount, privateKeyToAccount } from "viem/accounts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signAction } from "@/lib/signing/sign-action";
import { appRouter } from "@/server/api/root";
import type { TAccess, TMeta } from "@/server/api/trpc";
import type { TAppErrorCode } from "@/server/errors";
import {
  callTrpc,
  siweSignIn,
  startTestConsole,
  TEST_CONSOLE_ORIGIN,
  type TTestConsole,
} from "@/server/http/testing";
import { FakeAgent } from "@/server/testing/fake-agent";

const ROLES = ["anonymous", "other", "owner", "agent", "admin"] as const;
type TRole = (typeof ROLES)[number];
type TOutcome = "ok" | TAppErrorCode;

type TFixture = {
  console: TTestConsole;
  accounts: Record<Exclude<TRole, "anonymous">, PrivateKeyAccount>;
  /** An audit entry signed by the owner. */
  ownerAuditId: string;
  /** An instance of the owner on the fake agent's node (its serial log is served). */
  ownerInstanceId: string;
  /** A deployment of the owner (deployments.get). */
  ownerDeploymentId: string;
  /** Signs `action` with the role's key (anonymous: a throwaway key nobody knows). */
  sign(role: TRole, action: string, params: unknown): Promise<unknown>;
};

type TCase = {
  path: string;
  type: "query" | "mutation";
  input?: (fx: TFixture, role: TRole) => unknown;
  expect: Record<TRole, TOutcome>;
};

const EVERYONE: Record<TRole, TOutcome> = {
  anonymous: "ok",
  other: "ok",
  owner: "ok",
  agent: "ok",
  admin: "ok",
};
const SIGNED_IN: Record<TRole, TOutcome> = { ...EVERYONE, anonymous: "UNAUTHORIZED" };
/** Owner-scoped reads: other wallets (admins included) see "not found", not "forbidden". */
const OWNER_ONLY: Record<TRole, TOutcome> = {
  anonymous: "UNAUTHORIZED",
  other: "NOT_FOUND",
  owner: "ok",
  agent: "NOT_FOUND",
  admin: "NOT_FOUND",
};
const ADMIN_ONLY: Record<TRole, TOutcome> = {
  anonymous: "UNAUTHORIZED",
  other: "FORBIDDEN",
  owner: "FORBIDDEN",
  agent: "FORBIDDEN",
  admin: "ok",
};
/** Administrators and admitted node operators (the agent role): the replicated state store. */
const OPERATORS: Record<TRole, TOutcome> = {
  anonymous: "UNAUTHORIZED",
  other: "FORBIDDEN",
  owner: "FORBIDDEN",
  agent: "ok",
  admin: "ok",
};
const all = (outcome: TOutcome): Record<TRole, TOutcome> => ({
  anonymous: outcome,
  other: outcome,
  owner: outcome,
  agent: outcome,
  admin: outcome,
});

const CASES: TCase[] = [
  { path: "auth.config", type: "query", expect: EVERYONE },
  { path: "auth.nonce", type: "mutation", expect: EVERYONE },
  { path: "auth.me", type: "query", expect: EVERYONE },
  {
    path: "auth.signIn",
    type: "mutation",
    input: () => ({ message: "not a SIWE message", signature: `0x${"11".repeat(65)}` }),
    expect: all("BAD_REQUEST"),
  },
  { path: "auth.signOut", type: "mutation", expect: SIGNED_IN },
  { path: "account.audit", type: "query", input: () => ({ limit: 5 }), expect: SIGNED_IN },
  {
    path: "account.verifyAudit",
    type: "query",
    input: (fx) => ({ id: fx.ownerAuditId }),
    expect: OWNER_ONLY,
  },
  { path: "state.list", type: "query", input: () => ({ kind: "nodes" }), expect: OPERATORS },
  { path: "state.get", type: "query", input: () => ({ key: "cidrs/10.42.0.0_16" }), expect: OPERATORS },
  { path: "state.history", type: "query", input: () => ({ key: "cidrs/10.42.0.0_16" }), expect: OPERATORS },
  { path: "state.stats", type: "query", expect: OPERATORS },
  // The public nodes view: anyone, signed in or not (what it may show is checked below).
  { path: "nodes.publicList", type: "query", expect: EVERYONE },
  { path: "deployments.list", type: "query", expect: SIGNED_IN },
  {
    path: "deployments.capacity",
    type: "query",
    input: () => ({ vcpu: 1, memoryMb: 512, diskGb: 5 }),
    expect: SIGNED_IN,
  },
  // A deployment is its owner's: everyone else, admins included, sees "not found".
  {
    path: "deployments.get",
    type: "query",
    input: (fx) => ({ deploymentId: fx.ownerDeploymentId }),
    expect: OWNER_ONLY,
  },
  // Boot logs can hold secrets: the owner only; admins and the hosting operator see "not found".
  {
    path: "serial.tail",
    type: "query",
    input: (fx) => ({ instanceId: fx.ownerInstanceId, maxBytes: 1024 }),
    expect: OWNER_ONLY,
  },
];
// Referenced so the shorthand stays available for rows the lead adds (admin routers).
void ADMIN_ONLY;

let fx: TFixture;
let agent: FakeAgent | undefined;
const dataDir = mkdtempSync(path.join(os.tmpdir(), "formation-authz-"));

beforeAll(async () => {
  const accounts = {
    other: privateKeyToAccount(generatePrivateKey()),
    owner: privateKeyToAccount(generatePrivateKey()),
    agent: privateKeyToAccount(generatePrivateKey()),
    admin: privateKeyToAccount(generatePrivateKey()),
  };
  const console_ = await startTestConsole({
    env: {
      FORMATION_AGENT_ALLOWLIST: accounts.agent.address,
      FORMATION_ADMINS: accounts.admin.address,
      // The default modules run (control plane, terminal, state store): keep their files out of cwd.
      FORMATION_DATA_DIR: dataDir,
    },
  });
  const sign = (role: TRole, action: string, params: unknown) =>
    signAction(role === "anonymous" ? privateKeyToAccount(generatePrivateKey()) : accounts[role], {
      action,
      params,
      origin: TEST_CONSOLE_ORIGIN,
      chainId: console_.env.chainId,
    });
  const actor = await console_.runtime.auth.signedActions.accept(
    await sign("owner", "build.cancel", { buildId: "b-1" }),
    "build.cancel",
  );
  await console_.runtime.auth.signedActions.audit(actor);
  // The agent role's node hosts one instance of the owner, with a serial log that names it.
  agent = await FakeAgent.connect({
    url: console_.url,
    account: accounts.agent,
    serialLog: (id) => `serial console of ${id}\n`,
  });
  const cp = console_.runtime.services.controlPlane;
  if (!cp) throw new Error("control plane module did not start");
  const ownerInstanceId = `i-${randomBytes(10).toString("hex")}`;
  await cp.repos.instances.create({
    id: ownerInstanceId,
    deploymentId: "d-authz",
    buildId: "b-authz",
    owner: accounts.owner.address.toLowerCase(),
    nodeId: agent.nodeId,
    status: "running",
    desired: "running",
    formnetIp: null,
    imageDigest: `sha256:${"a".repeat(64)}`,
    vcpu: 1,
    memoryMb: 512,
    diskGb: 5,
  });
  agent.instances.set(ownerInstanceId, "running");
  const ownerDeploymentId = `d-${randomBytes(10).toString("hex")}`;
  await cp.repos.deployments.upsert({
    id: ownerDeploymentId,
    owner: accounts.owner.address.toLowerCase(),
    name: "authz",
    buildId: "b-authz",
    replicas: 1,
  });
  fx = { console: console_, accounts, ownerAuditId: actor.auditId, ownerInstanceId, ownerDeploymentId, sign };
});

afterAll(async () => {
  await agent?.close();
  await fx?.console.close();
  rmSync(dataDir, { recursive: true, force: true });
});

/** Fresh credentials per call, so a sign-out in one cell cannot affect another. */
async function headersFor(role: TRole): Promise<Record<string, string>> {
  if (role === "anonymous") return {};
  const { cookie, result } = await siweSignIn({ url: fx.console.url, account: fx.accounts[role] });
  if (!result.ok) throw new Error(`sign-in as ${role} failed: ${result.message}`);
  return { cookie };
}

async function outcome(c: Pick<TCase, "path" | "type" | "input">, role: TRole): Promise<TOutcome> {
  const res = await callTrpc({
    url: fx.console.url,
    path: c.path,
    type: c.type,
    input: c.input ? await c.input(fx, role) : undefined,
    headers: await headersFor(role),
  });
  return res.ok ? "ok" : ((res.appCode ?? "INTERNAL") as TAppErrorCode);
}

function isProcedure(value: unknown): value is AnyProcedure {
  return typeof value === "function" && "_def" in value;
}

// `_def.procedures` is tRPC's flat map "router.procedure" → procedure (nested routers included).
const procedures = Object.entries(appRouter._def.procedures as object).flatMap(
  ([path, p]: [string, unknown]) =>
    isProcedure(p) ? [{ path, type: p._def.type, meta: p._def.meta as TMeta | undefined }] : [],
);

describe("authorization matrix", () => {
  const cells = CASES.flatMap((c) => ROLES.map((role) => [c.path, role, c] as const));
  it.each(cells)("%s as %s", async (_path, role, c) => {
    expect(await outcome(c, role)).toBe(c.expect[role]);
  });

  it("lists only procedures that exist", () => {
    const known = new Set(procedures.map((p) => p.path));
    expect(CASES.map((c) => c.path).filter((p) => !known.has(p))).toEqual([]);
  });
});

describe("public procedures leak nothing private", () => {
  it("nodes.publicList shows capacity, usage and health, but no operator, address or instance ids", async () => {
    const res = await callTrpc({ url: fx.console.url, path: "nodes.publicList", type: "query" });
    expect(res.ok).toBe(true);
    const nodes = res.data as Record<string, unknown>[];
    expect(nodes).toHaveLength(1);
    const [node] = nodes;
    expect(Object.keys(node ?? {}).sort()).toEqual(
      [
        "accel",
        "allocated",
        "capacity",
        "connected",
        "createdAt",
        "healthy",
        "instances",
        "lastHeartbeatAt",
        "metrics",
        "nodeId",
        "region",
        "status",
      ].sort(),
    );
    expect(node).toMatchObject({ instances: 1, allocated: { vcpu: 1, memoryMb: 512, diskGb: 5 } });
    const text = JSON.stringify(res.data).toLowerCase();
    for (const secret of [
      fx.ownerInstanceId,
      fx.accounts.owner.address.toLowerCase(),
      fx.accounts.agent.address.toLowerCase(),
      agent?.wgPublicKey.toLowerCase() ?? "",
      "10.42.",
    ]) {
      expect(text).not.toContain(secret);
    }
  });
});

describe("every procedure declares its access and enforces it (generic sweep)", () => {
  it.each(procedures)("$path declares meta.access", ({ meta }) => {
    const declared: TAccess[] = ["public", "user", "signed", "admin"];
    expect(declared).toContain(meta?.access);
  });

  const guarded = procedures.filter(
    (p) => p.meta?.access !== "public" && (p.type === "query" || p.type === "mutation"),
  );
  it.each(guarded)("$path refuses anonymous callers", async ({ path, type, meta }) => {
    const c = { path, type: type === "query" ? "query" : "mutation" } as const;
    if (meta?.access === "signed" && meta.action) {
      // Unsigned input, then a signature by a key that is not the claimed signer.
      expect(await outcome(c, "anonymous")).not.toBe("ok");
      const forged = {
        ...((await fx.sign("anonymous", meta.action, {})) as object),
        signer: fx.accounts.owner.address,
      };
      const res = await callTrpc({ url: fx.console.url, path, type: c.type, input: forged });
      expect(res.ok).toBe(false);
      expect(["SIGNATURE_INVALID", "BAD_REQUEST"]).toContain(res.appCode);
      return;
    }
    expect(await outcome(c, "anonymous")).toBe("UNAUTHORIZED");
    if (meta?.access === "admin") expect(await outcome(c, "other")).toBe("FORBIDDEN");
  });
});
