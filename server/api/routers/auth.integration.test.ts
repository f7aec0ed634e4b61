import { privateKeyToAccount } from "viem/accounts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { createReadAuthorization } from "@/lib/signing/client-auth";
import { signAction } from "@/lib/signing/sign-action";
import { appRouter } from "@/server/api/root";
import { createTRPCRouter, mergeRouters, signedProcedure } from "@/server/api/trpc";
import { AppError } from "@/server/errors";
import {
  callTrpc,
  cookieHeader,
  siweSignIn,
  startTestConsole,
  TEST_CONSOLE_ORIGIN,
  type TTestConsole,
} from "@/server/http/testing";

const alice = privateKeyToAccount("0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d");
const mallory = privateKeyToAccount("0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a");

// A stand-in for a real signed mutation (instance.stop lives in the control plane's router).
const effects: string[] = [];
const testRouter = mergeRouters(
  appRouter,
  createTRPCRouter({
    test: createTRPCRouter({
      stop: signedProcedure(
        "instance.stop",
        z.object({ instanceId: z.string(), force: z.boolean().default(false) }),
      )
        .output(z.object({ stopped: z.string(), by: z.string(), auditId: z.string() }))
        .mutation(({ ctx, input }) => {
          effects.push(input.params.instanceId);
          return { stopped: input.params.instanceId, by: ctx.actor.address, auditId: ctx.actor.auditId };
        }),
      // Like build.create: the signed contentDigest must match something the console checks.
      digest: signedProcedure("build.create", z.object({ digest: z.string() }), {
        precheck: ({ params, envelope }) => {
          if (envelope.contentDigest !== params.digest) throw new AppError("BAD_REQUEST", "digest mismatch");
        },
      })
        .output(z.object({ ok: z.boolean() }))
        .mutation(() => ({ ok: true })),
      // A signed action whose procedure fails after the signature was accepted (e.g. not the owner).
      refuse: signedProcedure("instance.delete", z.object({ instanceId: z.string() }))
        .output(z.object({ ok: z.boolean() }))
        .mutation(() => {
          throw new AppError("NOT_FOUND", "no such instance");
        }),
    }),
  }),
);

/** The first `length`-character run of `b` that also occurs in `a`, or null. */
function sharedRun(a: string, b: string, length: number): string | null {
  for (let i = 0; i + length <= b.length; i += 1) {
    const run = b.slice(i, i + length);
    if (a.includes(run)) return run;
  }
  return null;
}

let c: TTestConsole;
const chainId = 31337;

async function tableCounts() {
  const db = c.runtime.db;
  return {
    accounts: await db.account.count(),
    sessions: await db.session.count(),
    nonces: await db.consumedNonce.count(),
    audit: await db.auditEntry.count(),
  };
}

function signStop(overrides: Partial<Parameters<typeof signAction>[1]> = {}, account = alice) {
  return signAction(account, {
    action: "instance.stop",
    params: { instanceId: "i-42" },
    origin: TEST_CONSOLE_ORIGIN,
    chainId,
    ...overrides,
  });
}

const call = (path: string, type: "query" | "mutation", input?: unknown, headers?: Record<string, string>) =>
  callTrpc({ url: c.url, path, type, input, ...(headers ? { headers } : {}) });

beforeAll(async () => {
  c = await startTestConsole({ router: testRouter });
});
afterAll(async () => {
  await c?.close();
});

describe("SIWE sign-in over HTTP", () => {
  it("hands out unpredictable nonces (no shifted copies of the previous one)", async () => {
    const nonces: string[] = [];
    for (let i = 0; i < 50; i += 1) {
      const res = await call("auth.nonce", "mutation");
      nonces.push((res.data as { nonce: string }).nonce);
    }
    expect(new Set(nonces).size).toBe(nonces.length);
    for (let i = 1; i < nonces.length; i += 1) {
      const [previous, next] = [nonces[i - 1] ?? "", nonces[i] ?? ""];
      // viem's Math.random nonce returned the same string shifted by one character each call: no
      // 12-character run of a nonce may reappear in the one before it (by chance: ~1 in 10^12).
      expect({ previous, next, shared: sharedRun(previous, next, 12) }).toEqual({
        previous,
        next,
        shared: null,
      });
    }
    // 128 bits from the CSPRNG, as 32 hex characters.
    for (const nonce of nonces) expect(nonce).toMatch(/^[0-9a-f]{32}$/);
  });

  it("sets an HttpOnly SameSite=Lax cookie that authenticates, and sign-out revokes it", async () => {
    const { cookie, result } = await siweSignIn({ url: c.url, account: alice });
    expect(result.ok).toBe(true);
    expect(result.data).toMatchObject({
      address: alice.address.toLowerCase(),
      via: "cookie",
      isAdmin: false,
    });
    const set = result.setCookies[0] ?? "";
    expect(set).toMatch(/^formation_session=[A-Za-z0-9_-]{43};/);
    expect(set).toContain("HttpOnly");
    expect(set).toContain("SameSite=Lax");
    expect(set).toContain("Path=/");
    // The database stores only a hash of the token.
    const token = cookie.split("=")[1] ?? "";
    expect(await c.runtime.db.session.count({ where: { tokenHash: token } })).toBe(0);

    const me = await call("auth.me", "query", undefined, { cookie });
    expect(me.data).toMatchObject({ address: alice.address.toLowerCase(), via: "cookie" });
    expect((await call("account.audit", "query", undefined, { cookie })).ok).toBe(true);

    const out = await call("auth.signOut", "mutation", undefined, { cookie });
    expect(out.data).toEqual({ revoked: true });
    expect(out.setCookies[0]).toMatch(/^formation_session=;.*Max-Age=0/);
    expect((await call("auth.me", "query", undefined, { cookie })).data).toBeNull();
    expect((await call("account.audit", "query", undefined, { cookie })).appCode).toBe("UNAUTHORIZED");
  });

  it("rejects a reused nonce", async () => {
    const first = await siweSignIn({ url: c.url, account: alice });
    expect(first.result.ok).toBe(true);
    const signature = await alice.signMessage({ message: first.message });
    const replay = await call("auth.signIn", "mutation", { message: first.message, signature });
    expect(replay.status).toBe(409);
    expect(replay.appCode).toBe("NONCE_REUSED");
  });

  const tampers: [string, Parameters<typeof siweSignIn>[0]["tamper"], string][] = [
    ["another domain", (f) => ({ ...f, domain: "evil.example" }), "SIGNATURE_INVALID"],
    ["another uri", (f) => ({ ...f, uri: "https://evil.example/login" }), "SIGNATURE_INVALID"],
    ["another chain", (f) => ({ ...f, chainId: 1 }), "SIGNATURE_INVALID"],
    ["an unknown nonce", (f) => ({ ...f, nonce: "abcdefgh12345678" }), "NONCE_REUSED"],
    [
      "an expired message",
      (f) => ({ ...f, expirationTime: new Date(Date.now() - 1000) }),
      "SIGNATURE_EXPIRED",
    ],
    ["a message for another address", (f) => ({ ...f, address: mallory.address }), "SIGNATURE_INVALID"],
  ];
  it.each(tampers)("rejects %s and creates no session", async (_name, tamper, code) => {
    const before = await tableCounts();
    const { result } = await siweSignIn({ url: c.url, account: alice, tamper });
    expect(result.ok).toBe(false);
    expect(result.appCode).toBe(code);
    expect(result.setCookies).toEqual([]);
    expect(await tableCounts()).toEqual(before);
  });

  it("refuses cookie mutations from a foreign Origin", async () => {
    const { cookie } = await siweSignIn({ url: c.url, account: alice });
    const res = await call("auth.signOut", "mutation", undefined, { cookie, origin: "https://evil.example" });
    expect(res.appCode).toBe("FORBIDDEN");
    expect((await call("auth.me", "query", undefined, { cookie })).data).not.toBeNull();
  });
});

describe("EIP-712 signed actions over HTTP", () => {
  it("accepts a signed action once, audits it, and rejects the replay", async () => {
    const before = await tableCounts();
    const envelope = await signStop();
    const ok = await call("test.stop", "mutation", envelope);
    expect(ok.ok).toBe(true);
    expect(ok.data).toMatchObject({ stopped: "i-42", by: alice.address.toLowerCase() });
    expect(effects).toEqual(["i-42"]);

    const replay = await call("test.stop", "mutation", envelope);
    expect(replay.status).toBe(409);
    expect(replay.appCode).toBe("NONCE_REUSED");
    expect(effects).toEqual(["i-42"]);
    expect(await tableCounts()).toMatchObject({ nonces: before.nonces + 1, audit: before.audit + 1 });

    // The signer sees the entry (via a signed read token, as the CLI would) and it re-verifies.
    const authorization = await createReadAuthorization(alice, { origin: TEST_CONSOLE_ORIGIN, chainId });
    const audit = await call("account.audit", "query", { limit: 10 }, { authorization });
    const entries = (audit.data as { entries: { id: string; action: string; params: unknown }[] }).entries;
    const auditId = (ok.data as { auditId: string }).auditId;
    expect(entries.find((e) => e.id === auditId)).toMatchObject({
      action: "instance.stop",
      params: { instanceId: "i-42" },
    });
    const verified = await call("account.verifyAudit", "query", { id: auditId }, { authorization });
    expect(verified.data).toEqual({ id: auditId, valid: true, reason: null });
  });

  it("refuses a signed action from the moment the signer's own expiry passed", async () => {
    const at = Math.floor(Date.now() / 1000);
    const before = await tableCounts();
    const effectsBefore = effects.length;
    // Expired 5 s ago: the old 30 s grace past expiresAt accepted it.
    const lapsed = await signStop({ params: { instanceId: "i-44" }, now: at - 65, ttlSeconds: 60 });
    const res = await call("test.stop", "mutation", lapsed);
    expect(res.appCode).toBe("SIGNATURE_EXPIRED");
    expect(effects.length).toBe(effectsBefore);
    expect(await tableCounts()).toEqual(before);
  });

  it("audits only actions that were carried out; a failed one is not audited but its nonce is spent", async () => {
    const before = await tableCounts();
    const envelope = await signAction(alice, {
      action: "instance.delete",
      params: { instanceId: "i-someone-elses" },
      origin: TEST_CONSOLE_ORIGIN,
      chainId,
    });
    const refused = await call("test.refuse", "mutation", envelope);
    expect(refused.appCode).toBe("NOT_FOUND");
    expect(await tableCounts()).toMatchObject({ audit: before.audit, nonces: before.nonces + 1 });
    expect((await call("test.refuse", "mutation", envelope)).appCode).toBe("NONCE_REUSED");
    expect(c.runtime.services.auth.signedActions.rejectionCounts()).toMatchObject({
      "instance.delete:NOT_FOUND": 1,
      "instance.delete:NONCE_REUSED": 1,
    });
  });

  it("detects a tampered audit row on re-verification", async () => {
    const ok = await call("test.stop", "mutation", await signStop({ params: { instanceId: "i-43" } }));
    const auditId = (ok.data as { auditId: string }).auditId;
    await c.runtime.db.auditEntry.update({
      where: { id: auditId },
      data: { params: '{"instanceId":"i-99"}' },
    });
    const authorization = await createReadAuthorization(alice, { origin: TEST_CONSOLE_ORIGIN, chainId });
    const verified = await call("account.verifyAudit", "query", { id: auditId }, { authorization });
    expect(verified.data).toMatchObject({ valid: false });
  });

  it("rejects bad signatures without touching the database or running the action", async () => {
    const good = await signStop({ params: { instanceId: "i-50" } });
    const bad: [string, unknown, string][] = [
      [
        "expired",
        await signStop({ now: Math.floor(Date.now() / 1000) - 700, ttlSeconds: 60 }),
        "SIGNATURE_EXPIRED",
      ],
      ["wrong origin", await signStop({ origin: "https://evil.example" }), "SIGNATURE_INVALID"],
      ["wrong chain", await signStop({ chainId: 1 }), "SIGNATURE_INVALID"],
      ["tampered params", { ...good, params: { instanceId: "i-51" } }, "SIGNATURE_INVALID"],
      ["forged signer", { ...(await signStop({}, mallory)), signer: alice.address }, "SIGNATURE_INVALID"],
      ["other action", await signStop({ action: "instance.delete" }), "BAD_REQUEST"],
      ["not an envelope", { instanceId: "i-50" }, "BAD_REQUEST"],
    ];
    const before = await tableCounts();
    const effectsBefore = effects.length;
    for (const [name, input, code] of bad) {
      const res = await call("test.stop", "mutation", input);
      expect({ name, appCode: res.appCode }).toEqual({ name, appCode: code });
    }
    expect(await tableCounts()).toEqual(before);
    expect(effects.length).toBe(effectsBefore);
    // The untouched original still works afterwards: rejections consumed nothing.
    expect((await call("test.stop", "mutation", good)).ok).toBe(true);
  });

  it("precheck rejects before the nonce is consumed or the audit written", async () => {
    const digest = `0x${"12".repeat(32)}` as const;
    const sign = (claimed: string, nonce?: string) =>
      signAction(alice, {
        action: "build.create",
        params: { digest: claimed },
        contentDigest: digest,
        origin: TEST_CONSOLE_ORIGIN,
        chainId,
        ...(nonce ? { nonce } : {}),
      });
    const before = await tableCounts();
    const nonce = "fedcba9876543210fedcba9876543210";
    const mismatch = await call("test.digest", "mutation", await sign(`0x${"34".repeat(32)}`, nonce));
    expect(mismatch.appCode).toBe("BAD_REQUEST");
    expect(await tableCounts()).toEqual(before);
    // Same nonce, now consistent: accepted, because the rejected attempt consumed nothing.
    expect((await call("test.digest", "mutation", await sign(digest, nonce))).ok).toBe(true);
  });

  it("accepts the same nonce from two different signers (nonces are per signer)", async () => {
    const nonce = "0123456789abcdef0123456789abcdef";
    expect((await call("test.stop", "mutation", await signStop({ nonce }))).ok).toBe(true);
    expect((await call("test.stop", "mutation", await signStop({ nonce }, mallory))).ok).toBe(true);
  });
});

describe("signed read tokens (CLI queries)", () => {
  it("authenticate queries but never mutations", async () => {
    const authorization = await createReadAuthorization(alice, { origin: TEST_CONSOLE_ORIGIN, chainId });
    const me = await call("auth.me", "query", undefined, { authorization });
    expect(me.data).toMatchObject({ address: alice.address.toLowerCase(), via: "signature" });
    const out = await call("auth.signOut", "mutation", undefined, { authorization });
    expect(out.appCode).toBe("UNAUTHORIZED");
  });

  it("reject expired, foreign-origin and garbage tokens with a reason", async () => {
    const now = Math.floor(Date.now() / 1000);
    const expired = await createReadAuthorization(alice, {
      origin: TEST_CONSOLE_ORIGIN,
      chainId,
      now: now - 400,
    });
    expect((await call("account.audit", "query", undefined, { authorization: expired })).appCode).toBe(
      "SIGNATURE_EXPIRED",
    );
    // Lapsed 5 s ago: no grace past the token's own expiry either.
    const lapsed = await createReadAuthorization(alice, {
      origin: TEST_CONSOLE_ORIGIN,
      chainId,
      now: now - 65,
      ttlSeconds: 60,
    });
    expect((await call("account.audit", "query", undefined, { authorization: lapsed })).appCode).toBe(
      "SIGNATURE_EXPIRED",
    );
    const foreign = await createReadAuthorization(alice, { origin: "https://evil.example", chainId });
    expect((await call("account.audit", "query", undefined, { authorization: foreign })).appCode).toBe(
      "SIGNATURE_INVALID",
    );
    expect(
      (await call("account.audit", "query", undefined, { authorization: "Formation xyz" })).appCode,
    ).toBe("BAD_REQUEST");
    // A bad token does not break public procedures.
    expect((await call("auth.me", "query", undefined, { authorization: "Formation xyz" })).data).toBeNull();
  });

  it("cannot be used as a signed action (action is session.read)", async () => {
    const authorization = await createReadAuthorization(alice, { origin: TEST_CONSOLE_ORIGIN, chainId });
    const token = JSON.parse(Buffer.from(authorization.split(" ")[1] ?? "", "base64url").toString());
    expect((await call("test.stop", "mutation", token)).appCode).toBe("BAD_REQUEST");
  });

  it("cookieHeader turns Set-Cookie lines into a cookie request header", () => {
    expect(cookieHeader(["a=1; Path=/", "b=2"])).toBe("a=1; b=2");
  });
});
