import { describe, expect, it } from "vitest";
import {
  createNonce,
  FALLBACK_CONTENT_SECURITY_POLICY,
  pageContentSecurityPolicy,
  SECURITY_HEADERS,
} from "./security-headers";

/** The policy as a directive → sources map, for assertions that do not depend on order. */
function directives(policy: string): Map<string, string[]> {
  const map = new Map<string, string[]>();
  for (const part of policy.split(";")) {
    const [name, ...sources] = part.trim().split(/\s+/);
    if (name) map.set(name, sources);
  }
  return map;
}

const base = {
  nonce: "bm9uY2U=",
  host: "localhost:3000",
  consoleOrigin: "http://localhost:3000",
  chainRpcUrl: "http://127.0.0.1:8545",
};

describe("pageContentSecurityPolicy", () => {
  it("allows same-origin scripts and inline ones by nonce only, no eval", () => {
    const d = directives(pageContentSecurityPolicy(base));
    expect(d.get("script-src")).toEqual(["'self'", "'nonce-bm9uY2U='"]);
    expect(d.get("object-src")).toEqual(["'none'"]);
    expect(d.get("base-uri")).toEqual(["'none'"]);
    expect(d.get("frame-ancestors")).toEqual(["'none'"]);
    expect(d.get("default-src")).toEqual(["'self'"]);
    expect(d.get("style-src")).toEqual(["'self'", "'unsafe-inline'"]);
  });

  it("adds 'unsafe-eval' in dev mode only", () => {
    expect(directives(pageContentSecurityPolicy({ ...base, dev: true })).get("script-src")).toContain(
      "'unsafe-eval'",
    );
    expect(pageContentSecurityPolicy({ ...base, dev: false })).not.toContain("unsafe-eval");
  });

  it("lets the page reach its own WebSockets and the chain RPC origin", () => {
    const connect = directives(
      pageContentSecurityPolicy({
        ...base,
        host: "console.example:8443",
        consoleOrigin: "https://console.example",
        chainRpcUrl: "https://rpc.example/v3/key?x=1",
      }),
    ).get("connect-src");
    expect(connect).toEqual([
      "'self'",
      "ws://console.example:8443",
      "wss://console.example:8443",
      "ws://console.example",
      "wss://console.example",
      "https://rpc.example",
    ]);
  });

  it("names each WebSocket origin once and accepts IPv6 hosts", () => {
    const connect = directives(
      pageContentSecurityPolicy({ ...base, host: "[::1]:3000", consoleOrigin: "http://[::1]:3000" }),
    ).get("connect-src");
    expect(connect).toEqual(["'self'", "ws://[::1]:3000", "wss://[::1]:3000", "http://127.0.0.1:8545"]);
  });

  it("keeps a malformed Host header or RPC URL out of the policy", () => {
    const policy = pageContentSecurityPolicy({
      ...base,
      host: "evil.example; script-src *",
      chainRpcUrl: "javascript:alert(1)",
    });
    expect(directives(policy).get("connect-src")).toEqual([
      "'self'",
      "ws://localhost:3000",
      "wss://localhost:3000",
    ]);
    expect(policy).not.toContain("evil");
    expect(directives(pageContentSecurityPolicy({ ...base, host: null })).get("connect-src")).toContain(
      "ws://localhost:3000",
    );
  });
});

describe("createNonce", () => {
  it("returns a fresh base64 value of 128 bits each time", () => {
    const a = createNonce();
    const b = createNonce();
    expect(a).toMatch(/^[A-Za-z0-9+/]{22}==$/);
    expect(a).not.toBe(b);
  });
});

describe("fixed headers", () => {
  it("deny framing, sniffing and cross-origin openers", () => {
    expect(SECURITY_HEADERS["X-Frame-Options"]).toBe("DENY");
    expect(SECURITY_HEADERS["X-Content-Type-Options"]).toBe("nosniff");
    expect(SECURITY_HEADERS["Cross-Origin-Opener-Policy"]).toBe("same-origin");
    expect(SECURITY_HEADERS["Referrer-Policy"]).toBe("strict-origin-when-cross-origin");
    expect(directives(FALLBACK_CONTENT_SECURITY_POLICY).get("default-src")).toEqual(["'none'"]);
    expect(directives(FALLBACK_CONTENT_SECURITY_POLICY).get("frame-ancestors")).toEqual(["'none'"]);
  });
});
