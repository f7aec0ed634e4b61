import { NextRequest } from "next/server";
import { describe, expect, it } from "vitest";
import { proxy } from "./proxy";

// Issue #23 (4): the page CSP Next serves. The real pages under it are checked in Chromium by
// playwright/security-headers.spec.ts; this pins what proxy.ts hands to Next and to the browser.

function render(path: string) {
  const res = proxy(new NextRequest(`http://localhost:3000${path}`, { headers: { host: "localhost:3000" } }));
  const csp = res.headers.get("content-security-policy") ?? "";
  return {
    csp,
    nonce: /'nonce-([A-Za-z0-9+/=]+)'/.exec(csp)?.[1] ?? null,
    // NextResponse.next({ request: { headers } }) forwards request headers as x-middleware-request-*.
    requestCsp: res.headers.get("x-middleware-request-content-security-policy"),
    requestNonce: res.headers.get("x-middleware-request-x-nonce"),
  };
}

describe("proxy: a nonce CSP per page", () => {
  it("answers the page with a nonce policy that forbids framing, plugins and eval", () => {
    const page = render("/nodes");
    expect(page.nonce).toMatch(/^[A-Za-z0-9+/]{22}==$/);
    expect(page.csp).toContain(`script-src 'self' 'nonce-${page.nonce}'`);
    expect(page.csp).toContain("frame-ancestors 'none'");
    expect(page.csp).toContain("object-src 'none'");
    expect(page.csp).toContain("base-uri 'none'");
    expect(page.csp).not.toContain("unsafe-eval");
    expect(page.csp).not.toContain("script-src 'self' 'unsafe-inline'");
  });

  it("gives Next the same policy and nonce it sends to the browser, fresh for every request", () => {
    const first = render("/");
    expect(first.requestCsp).toBe(first.csp);
    expect(first.requestNonce).toBe(first.nonce);
    const second = render("/");
    expect(second.nonce).not.toBe(first.nonce);
  });
});
