import { type NextRequest, NextResponse } from "next/server";
import { NONCE_HEADER } from "@/lib/nonce-header";
import { env } from "@/server/env";
import { createNonce, pageContentSecurityPolicy } from "@/server/http/security-headers";

/**
 * Gives every page Next renders its own CSP nonce. Next reads the nonce from the request's
 * `Content-Security-Policy` header and puts it on its framework scripts and inline RSC payloads;
 * app/layout.tsx reads `x-nonce` for its own inline script. The other security headers (and the
 * strict CSP of non-page responses) come from the custom server, server/http/console-server.ts.
 */
export function proxy(request: NextRequest): NextResponse {
  const e = env();
  const nonce = createNonce();
  const policy = pageContentSecurityPolicy({
    nonce,
    host: request.headers.get("host"),
    consoleOrigin: e.consoleOrigin,
    chainRpcUrl: e.chainRpcUrl,
    dev: e.nodeEnv === "development",
  });
  const requestHeaders = new Headers(request.headers);
  requestHeaders.set(NONCE_HEADER, nonce);
  requestHeaders.set("Content-Security-Policy", policy);
  const response = NextResponse.next({ request: { headers: requestHeaders } });
  response.headers.set("Content-Security-Policy", policy);
  return response;
}

export const config = {
  // Static files carry the server's strict fallback CSP; prefetches are not documents.
  matcher: [
    {
      source: "/((?!_next/static|_next/image|favicon.svg).*)",
      missing: [
        { type: "header", key: "next-router-prefetch" },
        { type: "header", key: "purpose", value: "prefetch" },
      ],
    },
  ],
};
