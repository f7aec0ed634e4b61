import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { controlPlaneModule } from "@/server/gateway/module";
import { FALLBACK_CONTENT_SECURITY_POLICY, SECURITY_HEADERS } from "./security-headers";
import { startTestConsole, type TTestConsole } from "./testing";

// Issue #23 (4): every response of the console server carries the fixed security headers and, when
// it is not a page, the strict fallback CSP — successes and refusals alike (a 401/413/429 page is
// as frameable as a 200). Real console over HTTP; pages and their nonce CSP (proxy.ts, Next) are
// checked in Chromium by playwright/security-headers.spec.ts.

const dataDir = mkdtempSync(path.join(os.tmpdir(), "formation-headers-"));
let c: TTestConsole;

beforeAll(async () => {
  c = await startTestConsole({
    // One auth call per minute, so the second auth.nonce is answered 429 by the admission checks.
    env: { FORMATION_DATA_DIR: dataDir, FORMATION_LIMIT_AUTH_PER_IP: "1" },
    modules: [controlPlaneModule()],
  });
});
afterAll(async () => {
  await c?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

const json = { "content-type": "application/json" };

/** Each kind of response the console server writes itself: [name, request, expected status]. */
const RESPONSES: [string, () => Promise<Response>, number][] = [
  ["/healthz", () => fetch(`${c.url}/healthz`), 200],
  ["a tRPC query", () => fetch(`${c.url}/api/trpc/auth.config`), 200],
  [
    "a tRPC mutation",
    () => fetch(`${c.url}/api/trpc/auth.nonce`, { method: "POST", headers: json, body: "{}" }),
    200,
  ],
  [
    "a rate-limited tRPC call (429)",
    () => fetch(`${c.url}/api/trpc/auth.nonce`, { method: "POST", headers: json, body: "{}" }),
    429,
  ],
  ["an unauthenticated tRPC query (401)", () => fetch(`${c.url}/api/trpc/account.audit`), 401],
  [
    "a non-JSON tRPC post (415)",
    () =>
      fetch(`${c.url}/api/trpc/auth.signOut`, {
        method: "POST",
        body: "x",
        headers: { "content-type": "text/plain" },
      }),
    415,
  ],
  [
    "an anonymous context upload (401)",
    () => fetch(`${c.url}/api/contexts/sha256:${"ab".repeat(32)}`, { method: "PUT", body: "x" }),
    401,
  ],
  [
    "an agent blob route without a token (401)",
    () => fetch(`${c.url}/api/agent/images/sha256:${"ab".repeat(32)}`),
    401,
  ],
  ["an unknown path (404)", () => fetch(`${c.url}/no-such-page`), 404],
];

describe("security headers on every response of the console server (real HTTP)", () => {
  it.each(RESPONSES)("%s", async (_name, send, status) => {
    const res = await send();
    await res.arrayBuffer();
    expect(res.status).toBe(status);
    const headers = Object.fromEntries(res.headers);
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) {
      expect({ name, value: headers[name.toLowerCase()] }).toEqual({ name, value });
    }
    expect(headers["content-security-policy"]).toBe(FALLBACK_CONTENT_SECURITY_POLICY);
    expect(FALLBACK_CONTENT_SECURITY_POLICY).toContain("frame-ancestors 'none'");
    expect(headers["x-frame-options"]).toBe("DENY");
    expect(headers["x-content-type-options"]).toBe("nosniff");
  });
});
