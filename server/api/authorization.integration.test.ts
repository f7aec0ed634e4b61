/**
 * Authorization matrix: every procedure of the appRouter, called over real HTTP as each role.
 *
 * Every procedure needs at least one row in CASES (path, type, input builder, expected outcome per
 * role): the test "has a row for every procedure" fails for a procedure added without one. Rows of
 * owner-scoped procedures prove owners are separated from other users (and from the operator that
 * hosts their instances and from administrators, where the procedure says so); the generic sweep at
 * the bottom checks every procedure refuses anonymous callers according to its `meta.access`.
 *
 * Signed procedures (`meta.access: "signed"`) are called with an envelope signed by the role's key;
 * there "anonymous" is a wallet nobody knows (a signature is the authentication), and each call must
 * leave an audit entry exactly when it was carried out (issue #23, finding 8).
 */
import type { AnyProcedure } from "@trpc/server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { appRouter } from "@/server/api/root";
import type { TAccess, TMeta } from "@/server/api/trpc";
import type { TAppErrorCode } from "@/server/errors";
import { callTrpc, siweSignIn } from "@/server/http/testing";
import {
  ROLES,
  startAuthzFixture,
  type TAuthzFixture,
  type TRole,
} from "@/server/testing/authorization-fixture";
import { randomWgKey } from "@/server/testing/fake-agent";
import { testFormfile } from "@/server/testing/platform";

type TOutcome = "ok" | TAppErrorCode;

type TCase = {
  path: string;
  /** Tells rows of the same procedure apart. */
  variant?: string;
  type: "query" | "mutation";
  input?: (fx: TAuthzFixture, role: TRole) => unknown;
  expect: Record<TRole, TOutcome>;
  /** Checks the answer of a successful call (e.g. that it shows nothing of the owner's). */
  check?: (data: unknown, role: TRole, fx: TAuthzFixture) => void;
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
/** Owner-scoped reads that administrators may also make (support); others see "not found". */
const OWNER_OR_ADMIN: Record<TRole, TOutcome> = { ...OWNER_ONLY, admin: "ok" };
/** Signed actions on the owner's resources: any other wallet, admins included, sees "not found". */
const OWNER_SIGNED: Record<TRole, TOutcome> = { ...OWNER_ONLY, anonymous: "NOT_FOUND" };
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

/** The answer names none of the owner's resources (for roles other than the owner). */
function showsNothingOfTheOwner(data: unknown, role: TRole, fx: TAuthzFixture): void {
  if (role === "owner") return;
  const text = JSON.stringify(data).toLowerCase();
  for (const secret of [
    fx.owner.address,
    fx.owner.shipped,
    fx.owner.deploymentId,
    fx.owner.deviceKey.toLowerCase(),
  ])
    expect({ role, leaks: text.includes(secret) ? secret : null }).toEqual({ role, leaks: null });
}

/** An instance action on its own instance of the owner's, so rows do not disturb each other. */
const instanceAction = (action: "start" | "stop" | "restart" | "delete"): TCase => ({
  path: `instances.${action}`,
  type: "mutation",
  input: async (fx, role) => fx.sign(role, `instance.${action}`, { instanceId: await fx.instance(action) }),
  expect: OWNER_SIGNED,
});

const CASES: TCase[] = [
  // auth: SIWE sign-in and the session.
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

  // account: the caller's own audit log.
  {
    path: "account.audit",
    type: "query",
    input: () => ({ limit: 50 }),
    expect: SIGNED_IN,
    check: (data, role, fx) => {
      if (role !== "owner") expect(JSON.stringify(data)).not.toContain(fx.owner.auditId);
    },
  },
  {
    path: "account.verifyAudit",
    type: "query",
    input: (fx) => ({ id: fx.owner.auditId }),
    expect: OWNER_ONLY,
  },

  // state: the replicated state store, for operators and administrators.
  { path: "state.list", type: "query", input: () => ({ kind: "nodes" }), expect: OPERATORS },
  { path: "state.get", type: "query", input: () => ({ key: "cidrs/10.42.0.0_16" }), expect: OPERATORS },
  { path: "state.history", type: "query", input: () => ({ key: "cidrs/10.42.0.0_16" }), expect: OPERATORS },
  { path: "state.stats", type: "query", expect: OPERATORS },

  // nodes: the public view for anyone (what it may show is checked below), details when signed in.
  { path: "nodes.publicList", type: "query", expect: EVERYONE },
  { path: "nodes.list", type: "query", expect: SIGNED_IN },
  { path: "nodes.get", type: "query", input: (fx) => ({ nodeId: fx.agent.nodeId }), expect: SIGNED_IN },

  // The Formfile as written (it may hold a plaintext passwd): its owner only, admins included out.
  {
    path: "builds.formfileSource",
    type: "query",
    input: (fx) => ({ buildId: fx.owner.shipped }),
    expect: OWNER_ONLY,
  },

  // deployments: the caller's own (issue #24); another account's is "not found", admins included.
  {
    path: "deployments.list",
    type: "query",
    expect: SIGNED_IN,
    check: (data, role, fx) => {
      if (role !== "owner") expect(JSON.stringify(data)).not.toContain(fx.owner.deploymentId);
    },
  },
  {
    path: "deployments.get",
    type: "query",
    input: (fx) => ({ deploymentId: fx.owner.deploymentId }),
    expect: OWNER_ONLY,
  },
  {
    path: "deployments.forBuild",
    type: "query",
    input: (fx) => ({ buildId: fx.owner.shipped }),
    expect: OWNER_ONLY,
    check: (data) => expect(data).not.toBeNull(),
  },
  // ingress: a deployment's URLs, replica health and traffic (client addresses) are the owner's only.
  {
    path: "ingress.status",
    type: "query",
    input: (fx) => ({ deploymentId: fx.owner.deploymentId }),
    expect: OWNER_ONLY,
  },
  {
    path: "ingress.health",
    type: "query",
    input: (fx) => ({ buildId: fx.owner.shipped }),
    expect: OWNER_ONLY,
  },
  // Custom domains: claimed, verified and removed by signature for the owner's own deployments only;
  // the list shows a wallet its own claims (others see none of the owner's).
  {
    path: "ingress.addDomain",
    type: "mutation",
    input: (fx, role) =>
      fx.sign(role, "domain.add", { domain: "shop.authz-matrix.test", deploymentId: fx.owner.deploymentId }),
    expect: OWNER_SIGNED,
  },
  {
    path: "ingress.domains",
    type: "query",
    input: () => ({}),
    expect: SIGNED_IN,
    check: (data, role) => {
      if (role !== "owner") expect(JSON.stringify(data)).not.toContain("shop.authz-matrix.test");
    },
  },
  {
    path: "ingress.verifyDomain",
    type: "mutation",
    input: (fx, role) => fx.sign(role, "domain.verify", { domain: "shop.authz-matrix.test" }),
    // No proof of control exists for the owner's claim; nobody else has a claim.
    expect: { ...OWNER_SIGNED, owner: "PRECONDITION_FAILED" },
  },
  {
    path: "ingress.removeDomain",
    type: "mutation",
    input: (fx, role) => fx.sign(role, "domain.remove", { domain: "shop.authz-matrix.test" }),
    expect: OWNER_SIGNED,
  },
  {
    path: "deployments.capacity",
    type: "query",
    input: () => ({ vcpu: 1, memoryMb: 512, diskGb: 5 }),
    expect: SIGNED_IN,
  },

  // serial: boot logs can hold secrets, so the owner only (admins and the hosting operator: not found).
  {
    path: "serial.tail",
    type: "query",
    input: async (fx) => ({ instanceId: await fx.instance("serial"), maxBytes: 1024 }),
    expect: OWNER_ONLY,
  },

  // builds: contexts are owned (issue #23, finding 3), builds are the owner's (admins may read).
  {
    path: "builds.create",
    variant: "with the owner's context digest",
    type: "mutation",
    input: (fx, role) =>
      fx.sign(
        role,
        "build.create",
        { formfile: testFormfile(`authz-create-${role}`), contextDigest: fx.owner.contextDigest },
        `0x${fx.owner.contextDigest.slice("sha256:".length)}`,
      ),
    expect: OWNER_SIGNED,
  },
  {
    path: "builds.cancel",
    type: "mutation",
    input: (fx, role) => fx.sign(role, "build.cancel", { buildId: fx.owner.unfinished }),
    expect: OWNER_SIGNED,
  },
  {
    path: "builds.get",
    type: "query",
    input: (fx) => ({ buildId: fx.owner.shipped }),
    expect: OWNER_OR_ADMIN,
  },
  {
    path: "builds.logs",
    type: "query",
    input: (fx) => ({ buildId: fx.owner.shipped }),
    expect: OWNER_OR_ADMIN,
  },
  { path: "builds.list", type: "query", expect: SIGNED_IN, check: showsNothingOfTheOwner },
  { path: "builds.list", variant: "all", type: "query", input: () => ({ all: true }), expect: ADMIN_ONLY },

  // instances and deployments: the owner's; the operator hosting them cannot act on them either.
  {
    path: "instances.commitmentDraft",
    type: "query",
    input: (fx) => ({ buildId: fx.owner.shipped }),
    expect: OWNER_ONLY,
  },
  {
    path: "instances.ship",
    type: "mutation",
    input: (fx, role) => fx.sign(role, "instance.ship", { buildId: fx.owner.shipped, replicas: 1 }),
    expect: OWNER_SIGNED,
  },
  {
    path: "instances.rollback",
    type: "mutation",
    input: (fx, role) => fx.sign(role, "deployment.rollback", { name: "authz-app", buildId: fx.owner.spare }),
    expect: OWNER_SIGNED,
  },
  instanceAction("start"),
  instanceAction("stop"),
  instanceAction("restart"),
  instanceAction("delete"),
  { path: "instances.list", type: "query", expect: SIGNED_IN, check: showsNothingOfTheOwner },
  { path: "instances.list", variant: "all", type: "query", input: () => ({ all: true }), expect: ADMIN_ONLY },
  {
    path: "instances.get",
    type: "query",
    input: async (fx) => ({ instanceId: await fx.instance("view") }),
    expect: OWNER_OR_ADMIN,
  },
  {
    path: "instances.getIp",
    type: "query",
    input: (fx) => ({ buildId: fx.owner.shipped }),
    expect: SIGNED_IN,
    check: (data, role) => {
      if (role !== "owner") expect(data).toEqual([]);
    },
  },
  { path: "instances.deployments", type: "query", expect: SIGNED_IN, check: showsNothingOfTheOwner },
  {
    path: "instances.commitment",
    type: "query",
    input: async (fx) => ({ instanceId: await fx.instance("view") }),
    expect: OWNER_OR_ADMIN,
  },
  {
    path: "instances.metrics",
    type: "query",
    input: async (fx) => ({ instanceId: await fx.instance("view") }),
    expect: OWNER_OR_ADMIN,
  },
  // Last of the instance rows: it ends the owner's deployment.
  {
    path: "instances.deleteDeployment",
    type: "mutation",
    input: (fx, role) => fx.sign(role, "deployment.delete", { deploymentId: fx.owner.deploymentId }),
    expect: OWNER_SIGNED,
  },

  // formnet: any wallet may join with a key of its own; a key names one member (issue #23, finding 1).
  {
    path: "formnet.join",
    variant: "with a new key",
    type: "mutation",
    input: (fx, role) => fx.sign(role, "formnet.join", { publicKey: randomWgKey(), endpoints: [] }),
    expect: EVERYONE,
  },
  {
    path: "formnet.join",
    variant: "with the owner's device key",
    type: "mutation",
    input: (fx, role) => fx.sign(role, "formnet.join", { publicKey: fx.owner.deviceKey, endpoints: [] }),
    expect: { ...all("CONFLICT"), owner: "ok" },
  },
  {
    path: "formnet.peers",
    type: "query",
    expect: SIGNED_IN,
    check: (data, role, fx) => {
      if (role !== "owner" && role !== "admin")
        expect(JSON.stringify(data)).not.toContain(fx.owner.deviceKey);
    },
  },
  { path: "formnet.status", type: "query", expect: SIGNED_IN, check: showsNothingOfTheOwner },
  // Last of the formnet rows: only the owner's own leave removes the owner's device.
  {
    path: "formnet.leave",
    variant: "the owner's device",
    type: "mutation",
    input: (fx, role) => fx.sign(role, "formnet.leave", { publicKey: fx.owner.deviceKey }),
    expect: EVERYONE,
    check: (data, role) => expect({ role, data }).toEqual({ role, data: { left: role === "owner" } }),
  },
];

let fx: TAuthzFixture;

beforeAll(async () => {
  fx = await startAuthzFixture();
}, 120_000);

afterAll(async () => {
  await fx?.close();
});

function isProcedure(value: unknown): value is AnyProcedure {
  return typeof value === "function" && "_def" in value;
}

// `_def.procedures` is tRPC's flat map "router.procedure" → procedure (nested routers included).
const procedures = Object.entries(appRouter._def.procedures as object).flatMap(
  ([path, p]: [string, unknown]) =>
    isProcedure(p) ? [{ path, type: p._def.type, meta: p._def.meta as TMeta | undefined }] : [],
);
const signedPaths = new Set(procedures.filter((p) => p.meta?.access === "signed").map((p) => p.path));

/** Fresh credentials per call, so a sign-out in one cell cannot affect another. */
async function headersFor(role: TRole): Promise<Record<string, string>> {
  if (role === "anonymous") return {};
  const { cookie, result } = await siweSignIn({ url: fx.console.url, account: fx.accounts[role] });
  if (!result.ok) throw new Error(`sign-in as ${role} failed: ${result.message}`);
  return { cookie };
}

async function call(c: Pick<TCase, "path" | "type" | "input">, role: TRole) {
  const res = await callTrpc({
    url: fx.console.url,
    path: c.path,
    type: c.type,
    input: c.input ? await c.input(fx, role) : undefined,
    // A signed procedure authenticates by its input alone.
    headers: signedPaths.has(c.path) ? {} : await headersFor(role),
  });
  const outcome: TOutcome = res.ok ? "ok" : ((res.appCode ?? "INTERNAL") as TAppErrorCode);
  return { outcome, data: res.data, message: res.message };
}

async function outcome(c: Pick<TCase, "path" | "type" | "input">, role: TRole): Promise<TOutcome> {
  return (await call(c, role)).outcome;
}

const auditEntries = () => fx.console.runtime.db.auditEntry.count();

describe("authorization matrix", () => {
  const label = (c: TCase) => (c.variant ? `${c.path} (${c.variant})` : c.path);
  const cells = CASES.flatMap((c) => ROLES.map((role) => [label(c), role, c] as const));
  it.each(cells)("%s as %s", async (_label, role, c) => {
    const before = signedPaths.has(c.path) ? await auditEntries() : 0;
    const res = await call(c, role);
    expect({
      role,
      outcome: res.outcome,
      message: res.outcome === c.expect[role] ? null : res.message,
    }).toEqual({
      role,
      outcome: c.expect[role],
      message: null,
    });
    if (res.outcome === "ok") c.check?.(res.data, role, fx);
    // A signed action is audited once when it was carried out, never when it was refused.
    if (signedPaths.has(c.path)) expect(await auditEntries()).toBe(before + (res.outcome === "ok" ? 1 : 0));
  });

  it("has a row for every procedure", () => {
    const covered = new Set(CASES.map((c) => c.path));
    expect(procedures.map((p) => p.path).filter((p) => !covered.has(p))).toEqual([]);
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
    expect(node).toMatchObject({ instances: expect.any(Number), allocated: { vcpu: expect.any(Number) } });
    expect(node?.instances).toBeGreaterThan(0);
    const text = JSON.stringify(res.data).toLowerCase();
    const instanceIds = (await fx.repos.instances.list({})).map((i) => i.id);
    for (const secret of [
      ...instanceIds,
      fx.owner.address,
      fx.accounts.agent.address.toLowerCase(),
      fx.agent.wgPublicKey.toLowerCase(),
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
