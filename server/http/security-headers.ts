/**
 * The console's browser security headers, in one place: the custom server puts the fixed ones on
 * every response (pages, tRPC, /healthz, module routes, static files) and proxy.ts replaces the
 * strict fallback CSP with a per-request nonce policy on the pages Next renders.
 *
 * Kept free of Node-only imports: proxy.ts bundles it.
 */

/** Headers every response carries, whatever serves it. */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  "X-Frame-Options": "DENY",
  "X-Content-Type-Options": "nosniff",
  "Referrer-Policy": "strict-origin-when-cross-origin",
  // The console uses none of these; an injected script cannot ask for them either.
  "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
  // Only the injected-wallet connector is used (no WalletConnect/Coinbase pop-ups that need an opener).
  "Cross-Origin-Opener-Policy": "same-origin",
});

/**
 * CSP of responses that are not HTML pages (JSON, blobs, static files): nothing may load from them
 * and nothing may frame them. proxy.ts overrides it on pages.
 */
export const FALLBACK_CONTENT_SECURITY_POLICY =
  "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

// host[:port], IPv4/DNS name or a bracketed IPv6 literal. Anything else is not put in the policy.
const HOST_PATTERN = /^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

/** A fresh, unguessable nonce (128 random bits, base64) for one page response. */
export function createNonce(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return btoa(String.fromCharCode(...bytes));
}

export type TPagePolicyOptions = {
  nonce: string;
  /** The request's Host header: the browser's own origin when no reverse proxy rewrites it. */
  host: string | null;
  /** The console's public origin (CONSOLE_ORIGIN). */
  consoleOrigin: string;
  /** The chain JSON-RPC URL the browser's wagmi transport calls. */
  chainRpcUrl: string;
  /** Next dev mode: React needs eval for its debugging aids. Never true in production. */
  dev?: boolean;
};

function hostOf(url: string): string | null {
  return URL.canParse(url) ? new URL(url).host : null;
}

function originOf(url: string): string | null {
  if (!URL.canParse(url)) return null;
  const parsed = new URL(url);
  return /^(https?|wss?):$/.test(parsed.protocol) ? parsed.origin : null;
}

/**
 * The CSP of a page: scripts only from the console's own origin (Next's chunks) or inline with this
 * response's nonce, fetches and WebSockets to the console itself and the chain RPC, styles from the
 * console's CSS plus inline styles (xterm.js and React `style` props set them; a nonce would
 * disable 'unsafe-inline' for style attributes, which cannot carry one), no plugins, no framing.
 *
 * No 'strict-dynamic': every script the console runs is same-origin, and without it a script
 * element created at run time needs the nonce too (with it, any running script could add inline
 * code). nosniff keeps same-origin non-JavaScript responses (blobs, JSON) from running as scripts.
 */
export function pageContentSecurityPolicy(opts: TPagePolicyOptions): string {
  // 'self' covers same-origin ws(s): in CSP Level 3 browsers only; name the WebSocket origins too.
  const wsHosts = new Set<string>();
  for (const host of [opts.host, hostOf(opts.consoleOrigin)]) {
    if (host && HOST_PATTERN.test(host)) wsHosts.add(host);
  }
  const connect = ["'self'", ...[...wsHosts].flatMap((h) => [`ws://${h}`, `wss://${h}`])];
  const chain = originOf(opts.chainRpcUrl);
  if (chain && !connect.includes(chain)) connect.push(chain);
  const directives: [string, ...string[]][] = [
    ["default-src", "'self'"],
    ["script-src", "'self'", `'nonce-${opts.nonce}'`, ...(opts.dev ? ["'unsafe-eval'"] : [])],
    ["style-src", "'self'", "'unsafe-inline'"],
    ["img-src", "'self'", "data:", "blob:"],
    ["font-src", "'self'", "data:"],
    ["connect-src", ...connect],
    ["object-src", "'none'"],
    ["base-uri", "'none'"],
    ["form-action", "'self'"],
    ["frame-ancestors", "'none'"],
  ];
  return directives.map((d) => d.join(" ")).join("; ");
}
