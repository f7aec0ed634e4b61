import { hostName } from "./edge";

const ACME_CHALLENGE = "/.well-known/acme-challenge/";

/**
 * Where a plain-HTTP app request should go instead, or null to serve it as it is: to
 * `https://<host>[:port]<path>` when the edge has a TLS listener (`httpsPort`, the public one) and
 * a certificate for the host. ACME HTTP-01 answers stay on plain HTTP (the ACME server asks there,
 * also while renewing), and so does a request a TLS terminator in front already forwarded as https
 * (redirecting it would loop).
 */
export function httpsRedirect(opts: {
  /** The request's Host header. */
  host: string | undefined;
  /** The request's path and query (`req.url`). */
  url: string | undefined;
  /** The public port of the edge's TLS listener; undefined when it has none. */
  httpsPort: number | undefined;
  /** Whether the edge has a certificate for a host name (lowercase, no port). */
  hasCertificate: (name: string) => boolean;
  /** The request's X-Forwarded-Proto header, if any. */
  forwardedProto?: string | string[] | undefined;
}): string | null {
  if (opts.httpsPort === undefined || !opts.host) return null;
  const path = opts.url?.startsWith("/") ? opts.url : "/";
  if (path.startsWith(ACME_CHALLENGE)) return null;
  const forwarded = [opts.forwardedProto ?? []].flat().join(",").toLowerCase();
  if (forwarded.split(",")[0]?.trim() === "https") return null;
  const name = hostName(opts.host);
  if (!opts.hasCertificate(name)) return null;
  const port = opts.httpsPort === 443 ? "" : `:${opts.httpsPort}`;
  return `https://${name}${port}${path}`;
}
