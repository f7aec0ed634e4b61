import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { request } from "node:http";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { generatePrivateKey, type PrivateKeyAccount, privateKeyToAccount } from "viem/accounts";
import { afterAll, afterEach, describe, expect, it, vi } from "vitest";
import { createReadAuthorization } from "@/lib/signing/client-auth";
import { controlPlaneModule } from "@/server/gateway/module";
import { sha256Digest } from "@/server/testing/agent-actions";
import { testRepositories } from "@/server/testing/repositories";
import { cpuPressureSince, percentile, sampleLatencies, startFlood } from "./flood-testing";
import { siweSignIn, startTestConsole, TEST_CONSOLE_ORIGIN, type TTestConsole } from "./testing";

// Short deadlines and small allowances so each limit is reached in a test's time.
const LIMIT_ENV = {
  FORMATION_LIMIT_AUTH_PER_IP: "20",
  FORMATION_LIMIT_AUTH_FAILURES_PER_IP: "10",
  FORMATION_LIMIT_TRPC_BATCH: "20",
  FORMATION_LIMIT_JSON_BODY_MS: "1000",
  FORMATION_LIMIT_BLOB_BODY_IDLE_MS: "600",
  FORMATION_LIMIT_BLOB_BODY_MS: "1500",
};

/** /healthz answers within this p99 while a client floods auth.nonce (issue #23). */
const HEALTHZ_P99_BUDGET_MS = 50;
/**
 * The budget is judged in a round during which the rest of the machine left the CPUs mostly free:
 * while the flood was frozen, some task waited for a CPU (Linux PSI) less than half of the time,
 * and /healthz itself met half the budget. On a machine whose other work keeps every core busy, a
 * busy console waits for its time slices and the figure would measure the machine, not the console
 * (on this project's shared 2-core test machine: flooded p99 12–47 ms at 45–90 % pressure, up to
 * 147 ms at 95–100 %, 11.5 ms at 5 %).
 */
const JUDGEABLE_CPU_PRESSURE = 0.5;
const JUDGEABLE_QUIET_P99_MS = HEALTHZ_P99_BUDGET_MS / 2;
/** How long to wait for such a round before the budget is reported as not judgeable (skipped). */
const JUDGE_WITHIN_MS = 60_000;

const dataDir = mkdtempSync(path.join(os.tmpdir(), "formation-limits-"));
const consoles: TTestConsole[] = [];

/** A fresh console per test: limits are per client IP, and every test's client is 127.0.0.1. */
async function freshConsole(
  opts: { blobs?: boolean; env?: Record<string, string> } = {},
): Promise<TTestConsole> {
  const console_ = await startTestConsole({
    env: { ...LIMIT_ENV, FORMATION_DATA_DIR: path.join(dataDir, String(consoles.length)), ...opts.env },
    modules: opts.blobs ? [controlPlaneModule()] : [],
  });
  consoles.push(console_);
  return console_;
}

afterEach(async () => {
  vi.restoreAllMocks();
  for (const c of consoles.splice(0)) await c.close();
});
afterAll(() => {
  rmSync(dataDir, { recursive: true, force: true });
});

function postNonce(url: string, init: { headers?: Record<string, string>; body?: BodyInit } = {}) {
  return fetch(`${url}/api/trpc/auth.nonce`, {
    method: "POST",
    headers: init.headers ?? { "content-type": "application/json" },
    body: init.body ?? "{}",
  });
}

type TErrorBody = { error: { json: { message: string; data: { appCode: string; httpStatus: number } } } };

/**
 * Sends headers and the start of a body that never ends (a chunk every 100 ms, or nothing).
 * Resolves with the status the server answered and when its socket closed, or "none" at `capMs`.
 */
function neverEndingBody(opts: {
  url: string;
  method: "POST" | "PUT";
  path: string;
  headers: Record<string, string>;
  trickle: boolean;
  capMs: number;
}): Promise<{ status: number | "none"; closedAfterMs: number }> {
  const target = new URL(opts.url);
  const started = performance.now();
  return new Promise((resolve) => {
    let status: number | "none" = "none";
    const req = request({
      host: target.hostname,
      port: target.port,
      method: opts.method,
      path: opts.path,
      headers: { ...opts.headers, "transfer-encoding": "chunked" },
    });
    const trickle = opts.trickle ? setInterval(() => req.write("x"), 100) : undefined;
    const finish = () => {
      clearInterval(trickle);
      clearTimeout(cap);
      resolve({ status, closedAfterMs: performance.now() - started });
    };
    const cap = setTimeout(() => {
      req.destroy();
    }, opts.capMs);
    req.on("response", (res) => {
      status = res.statusCode ?? 0;
      res.resume();
    });
    req.on("error", () => undefined);
    req.on("close", finish);
    req.write(opts.method === "POST" ? "{" : "x");
  });
}

/**
 * Resolves once the console stopped answering requests of a frozen client: its rejection count
 * held still for 10 ms (polled, at most 2 s).
 */
async function answeredInFlight(c: TTestConsole): Promise<void> {
  const answered = () => Object.values(c.runtime.limits.rejections()).reduce((sum, n) => sum + n, 0);
  const deadline = Date.now() + 2_000;
  let last = answered();
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, 10));
    const now = answered();
    if (now === last || Date.now() > deadline) return;
    last = now;
  }
}

describe("request limits (real console over HTTP)", () => {
  it("limits auth.nonce per IP: 429 with Retry-After after the allowance, and no more nonce rows", async () => {
    const c = await freshConsole();
    const statuses: number[] = [];
    let rejected: Response | undefined;
    for (let i = 0; i < 40; i++) {
      const res = await postNonce(c.url);
      statuses.push(res.status);
      if (res.status === 429) rejected ??= res;
      else await res.body?.cancel();
    }
    expect(statuses.slice(0, 20).every((s) => s === 200)).toBe(true);
    expect(statuses.slice(20).every((s) => s === 429)).toBe(true);
    if (!rejected) throw new Error("no request was rejected");
    const retryAfter = Number(rejected.headers.get("retry-after"));
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(60);
    const body = (await rejected.json()) as TErrorBody;
    expect(body.error.json.data.appCode).toBe("RATE_LIMITED");
    expect(body.error.json.message).toBe(`Too many requests; retry in ${retryAfter} s`);
    expect(await c.runtime.db.siweNonce.count()).toBe(20);
    expect(c.runtime.limits.rejections().authPerIp).toBe(20);
    // Never limited: the client that is being refused still gets its health check.
    expect((await fetch(`${c.url}/healthz`)).status).toBe(200);
  });

  it("keeps /healthz fast (p99 < 50 ms) while one client floods auth.nonce", async (ctx) => {
    const c = await freshConsole();
    const healthz = `${c.url}/healthz`;
    const flood = startFlood(c.url, "auth.nonce");
    const floodStarted = Date.now();
    type TRound = { pressure: number | null; quietP99: number; floodedP99: number; floodedMax: number };
    const rounds: TRound[] = [];
    const judgeable = (r: TRound | undefined) =>
      r !== undefined &&
      (r.pressure === null || r.pressure < JUDGEABLE_CPU_PRESSURE) &&
      r.quietP99 < JUDGEABLE_QUIET_P99_MS;
    let counts: Record<string, number> = {};
    try {
      // Measure once the flood is past its allowance (its first 429).
      await flood.limited(20_000);
      // 200 samples under the flood, in blocks alternating with 200 while the flooding process is
      // frozen (both halves see the same machine). Rounds repeat until one is judgeable.
      const deadline = Date.now() + JUDGE_WITHIN_MS;
      do {
        const quiet: number[] = [];
        const flooded: number[] = [];
        const pressures: (number | null)[] = [];
        for (let block = 0; block < 8; block++) {
          flood.pause();
          // Quiet means quiet: the requests the frozen flood had in flight are answered first.
          await answeredInFlight(c);
          const pressure = cpuPressureSince();
          quiet.push(...(await sampleLatencies(healthz, 25)));
          pressures.push(pressure());
          flood.resume();
          flooded.push(...(await sampleLatencies(healthz, 25)));
        }
        const known = pressures.filter((p) => p !== null);
        rounds.push({
          pressure: known.length > 0 ? known.reduce((a, b) => a + b, 0) / known.length : null,
          quietP99: percentile(quiet, 99),
          floodedP99: percentile(flooded, 99),
          floodedMax: percentile(flooded, 100),
        });
      } while (!judgeable(rounds.at(-1)) && Date.now() < deadline);
    } finally {
      counts = await flood.stop();
    }
    // The flood was real and refused, and it added no rows past its allowance (20 per one-minute
    // window; a long measurement spans more than one).
    expect(counts["429"] ?? 0).toBeGreaterThan(100);
    const windows = Math.floor((Date.now() - floodStarted) / 60_000) + 1;
    expect(await c.runtime.db.siweNonce.count()).toBeLessThanOrEqual(20 * windows);
    const figuresOf = (r: TRound) =>
      `p99 ${r.floodedP99.toFixed(1)} ms (max ${r.floodedMax.toFixed(1)}) under the flood, ` +
      `${r.quietP99.toFixed(1)} ms without it, CPU pressure ${r.pressure === null ? "unknown" : `${Math.round(r.pressure * 100)} %`}`;
    const judged = rounds.find(judgeable);
    const busy = rounds.filter((r) => !judgeable(r));
    const skipped =
      busy.length === 0
        ? ""
        : `; ${busy.length} round(s) on a busier machine (up to p99 ${Math.max(...busy.map((r) => r.floodedP99)).toFixed(1)} ms)`;
    const summary = `${judged ? figuresOf(judged) : "no judgeable round"}${skipped}; flood ${JSON.stringify(counts)}`;
    await ctx.annotate(summary);
    if (!judged) {
      return ctx.skip(
        `the machine stayed too busy for ${JUDGE_WITHIN_MS / 1000} s (CPU pressure ≥ ${JUDGEABLE_CPU_PRESSURE * 100} % or /healthz over ${JUDGEABLE_QUIET_P99_MS} ms p99 even without the flood), so the ${HEALTHZ_P99_BUDGET_MS} ms budget cannot be judged: ${summary}`,
      );
    }
    expect(judged.floodedP99, summary).toBeLessThan(HEALTHZ_P99_BUDGET_MS);
  });

  it("refuses tRPC batches over the limit, GET and POST, with 400 and what to do", async () => {
    const c = await freshConsole();
    const paths = Array.from({ length: 400 }, () => "auth.config").join(",");
    const input = encodeURIComponent(JSON.stringify({}));
    const get = await fetch(`${c.url}/api/trpc/${paths}?batch=1&input=${input}`);
    expect(get.status).toBe(400);
    const body = (await get.json()) as TErrorBody;
    expect(body.error.json.data.appCode).toBe("BAD_REQUEST");
    expect(body.error.json.message).toBe(
      "A tRPC batch may hold at most 20 procedures (this one has 400); split it",
    );
    const post = await fetch(`${c.url}/api/trpc/${Array(21).fill("auth.nonce").join(",")}?batch=1`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{}",
    });
    expect(post.status).toBe(400);
    expect(await c.runtime.db.siweNonce.count()).toBe(0);
    // At the limit, a batch is served.
    const ok = await fetch(
      `${c.url}/api/trpc/${Array(20).fill("auth.config").join(",")}?batch=1&input=${input}`,
    );
    expect(ok.status).toBe(200);
  });

  it("refuses cross-origin and non-JSON posts to tRPC before they reach auth.nonce", async () => {
    const c = await freshConsole();
    const form = new FormData();
    form.set("x", "1");
    const multipart = await postNonce(c.url, { headers: { origin: "https://evil.example" }, body: form });
    expect(multipart.status).toBe(415);
    const plain = await postNonce(c.url, { headers: { "content-type": "text/plain" }, body: "{}" });
    expect(plain.status).toBe(415);
    expect(((await plain.json()) as TErrorBody).error.json.message).toMatch(/application\/json/);
    const foreign = await postNonce(c.url, {
      headers: { "content-type": "application/json", origin: "https://evil.example" },
    });
    expect(foreign.status).toBe(403);
    expect(await c.runtime.db.siweNonce.count()).toBe(0);
    // The console's own origin (and programs that send none) still get nonces.
    const own = await postNonce(c.url, {
      headers: { "content-type": "application/json", origin: TEST_CONSOLE_ORIGIN },
    });
    expect(own.status).toBe(200);
    expect(await c.runtime.db.siweNonce.count()).toBe(1);
  });

  it("answers a tRPC body that never completes with 408 and closes it within the deadline", async () => {
    const c = await freshConsole();
    const result = await neverEndingBody({
      url: c.url,
      method: "POST",
      path: "/api/trpc/auth.nonce",
      headers: { "content-type": "application/json" },
      trickle: true,
      capMs: 5000,
    });
    expect(result.status).toBe(408);
    expect(result.closedAfterMs).toBeGreaterThanOrEqual(900);
    expect(result.closedAfterMs).toBeLessThan(2000);
    expect(await c.runtime.db.siweNonce.count()).toBe(0);
  });

  it("answers a blob PUT that trickles or stalls with 408 and closes it", async () => {
    const c = await freshConsole({ blobs: true });
    const { cookie, result } = await siweSignIn({
      url: c.url,
      account: privateKeyToAccount(generatePrivateKey()),
    });
    expect(result.ok).toBe(true);
    const put = (trickle: boolean) =>
      neverEndingBody({
        url: c.url,
        method: "PUT",
        path: `/api/contexts/sha256:${"ab".repeat(32)}`,
        headers: { cookie, "content-type": "application/octet-stream" },
        trickle,
        capMs: 5000,
      });
    // A body that keeps sending hits the whole-body deadline (1.5 s); a silent one the idle one (0.6 s).
    const trickling = await put(true);
    expect(trickling.status).toBe(408);
    expect(trickling.closedAfterMs).toBeGreaterThanOrEqual(1400);
    expect(trickling.closedAfterMs).toBeLessThan(2500);
    const stalled = await put(false);
    expect(stalled.status).toBe(408);
    expect(stalled.closedAfterMs).toBeLessThan(1400);
    // The console still serves.
    expect((await fetch(`${c.url}/healthz`)).status).toBe(200);
  });

  it("makes forged read tokens cheap: failures per IP are limited and repeats are cached", async () => {
    const c = await freshConsole();
    const account = privateKeyToAccount(generatePrivateKey());
    const valid = await createReadAuthorization(account, {
      origin: TEST_CONSOLE_ORIGIN,
      chainId: c.env.chainId,
      ttlSeconds: 300,
    });
    const envelope = JSON.parse(Buffer.from(valid.slice("Formation ".length), "base64url").toString()) as {
      signature: string;
    };
    // Well-formed tokens with a wrong signature: each costs a signature recovery to refuse.
    const forged = (i: number) => {
      const hex = i.toString(16).padStart(8, "0");
      const signature = `${envelope.signature.slice(0, 20)}${hex}${envelope.signature.slice(28)}`;
      return `Formation ${Buffer.from(JSON.stringify({ ...envelope, signature })).toString("base64url")}`;
    };
    const verify = vi.spyOn(c.runtime.services.auth.signedActions, "resolveReadAuthorization");
    const me = (authorization: string) =>
      fetch(`${c.url}/api/trpc/account.audit`, { headers: { authorization } });

    // The same forged token, over and over: verified once, then answered from the cache.
    for (let i = 0; i < 50; i++) expect((await me(forged(0))).status).toBe(401);
    expect(verify).toHaveBeenCalledTimes(1);

    // Distinct forged tokens: after the allowance of failures the IP is refused unverified.
    const statuses: number[] = [];
    for (let i = 1; i <= 200; i++) statuses.push((await me(forged(i))).status);
    expect(statuses.filter((s) => s === 401).length).toBeLessThanOrEqual(10);
    expect(statuses.slice(-150).every((s) => s === 429)).toBe(true);
    expect(verify.mock.calls.length).toBeLessThanOrEqual(11);
    expect(c.runtime.limits.rejections().authFailuresPerIp).toBeGreaterThanOrEqual(150);
  });

  it("serves a valid read token from the cache on repeats", async () => {
    const c = await freshConsole();
    const account = privateKeyToAccount(generatePrivateKey());
    const authorization = await createReadAuthorization(account, {
      origin: TEST_CONSOLE_ORIGIN,
      chainId: c.env.chainId,
    });
    const verify = vi.spyOn(c.runtime.services.auth.signedActions, "resolveReadAuthorization");
    for (let i = 0; i < 5; i++) {
      const res = await fetch(`${c.url}/api/trpc/account.audit`, { headers: { authorization } });
      expect(res.status).toBe(200);
      await res.body?.cancel();
    }
    expect(verify).toHaveBeenCalledTimes(1);
  });

  it("limits API calls per signed-in address, whatever IP they come from", async () => {
    const c = await freshConsole({ env: { FORMATION_LIMIT_REQUESTS_PER_IDENTITY: "5" } });
    const audit = async (account: PrivateKeyAccount) => {
      const authorization = await createReadAuthorization(account, {
        origin: TEST_CONSOLE_ORIGIN,
        chainId: c.env.chainId,
      });
      const res = await fetch(`${c.url}/api/trpc/account.audit`, { headers: { authorization } });
      return { status: res.status, retryAfter: res.headers.get("retry-after"), body: await res.text() };
    };
    const busy = privateKeyToAccount(generatePrivateKey());
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await audit(busy)).status);
    expect(statuses).toEqual([200, 200, 200, 200, 200]);
    const refused = await audit(busy);
    expect(refused.status).toBe(429);
    expect(Number(refused.retryAfter)).toBeGreaterThan(0);
    expect(refused.body).toContain("RATE_LIMITED");
    // Same IP, another address: its own allowance (the per-IP limit is far higher).
    expect((await audit(privateKeyToAccount(generatePrivateKey()))).status).toBe(200);
    expect(c.runtime.limits.rejections().requestsPerIdentity).toBe(1);
  });

  it("limits context uploads per address: 429 with Retry-After, nothing stored", async () => {
    const c = await freshConsole({ blobs: true, env: { FORMATION_LIMIT_BLOB_PUTS_PER_IDENTITY: "3" } });
    const put = async (account: PrivateKeyAccount) => {
      const authorization = await createReadAuthorization(account, {
        origin: TEST_CONSOLE_ORIGIN,
        chainId: c.env.chainId,
      });
      const bytes = randomBytes(1024);
      const res = await fetch(`${c.url}/api/contexts/${sha256Digest(bytes)}`, {
        method: "PUT",
        body: new Uint8Array(bytes),
        headers: { authorization },
      });
      return { status: res.status, retryAfter: res.headers.get("retry-after"), body: await res.text() };
    };
    const uploader = privateKeyToAccount(generatePrivateKey());
    for (let i = 0; i < 3; i++) expect((await put(uploader)).status).toBe(201);
    const refused = await put(uploader);
    expect(refused.status).toBe(429);
    expect(Number(refused.retryAfter)).toBeGreaterThan(0);
    expect(JSON.parse(refused.body)).toMatchObject({ error: { appCode: "RATE_LIMITED" } });
    const repos = testRepositories(c.runtime.db);
    expect(await repos.contextUploads.usedBytes(uploader.address.toLowerCase())).toBe(3 * 1024);
    expect((await put(privateKeyToAccount(generatePrivateKey()))).status).toBe(201);
  });
});
