import { z } from "zod";
import { envMs, parseEnv } from "@/lib/env";

const optionalPort = z.coerce.number().int().min(0).max(65_535).optional();
const HOSTNAME =
  /^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;

/** Ingress settings from the environment (documented in docs/ingress.md). */
export const ZIngressEnv = z.object({
  /** `0` turns the edge and the health checks off. */
  FORMATION_INGRESS: z.enum(["0", "1"]).default("1"),
  /** Apps are `<name>-<app id>.<domain>`; `localhost` (the default) needs no DNS. */
  FORMATION_APPS_DOMAIN: z
    .string()
    .transform((v) => v.trim().toLowerCase().replace(/\.$/, ""))
    .refine((v) => HOSTNAME.test(v), "expected a host name such as apps.example.com")
    .default("localhost"),
  /** Port written into app URLs when it differs from the listener's (behind a port forward). */
  FORMATION_APPS_PUBLIC_PORT: optionalPort,
  /** Port written into https URLs when it differs from FORMATION_EDGE_HTTPS_PORT. */
  FORMATION_APPS_PUBLIC_HTTPS_PORT: optionalPort,
  /** A plain-HTTP listener for apps only (e.g. 80: apps over HTTP and ACME HTTP-01 answers). */
  FORMATION_EDGE_HTTP_PORT: optionalPort,
  /** A TLS listener for apps only (e.g. 443; HTTP/2 and HTTP/1.1, certificates by SNI). */
  FORMATION_EDGE_HTTPS_PORT: optionalPort,
  /** Address of the dedicated listeners (default: the console's HOST). */
  FORMATION_EDGE_HOST: z.string().optional(),
  /** Longest wait for a TCP connection to a replica before another one is tried. */
  FORMATION_EDGE_CONNECT_TIMEOUT_MS: envMs(1_000),
  /** The same for a request's last possible attempt (no replica left to try): SYN retransmits fit. */
  FORMATION_EDGE_LAST_CONNECT_TIMEOUT_MS: envMs(10_000),
  /** A request without response headers after this long has its replica probed (dead host?). */
  FORMATION_EDGE_SUSPECT_MS: envMs(500),
  /** Further replicas an idempotent request may be retried on. */
  FORMATION_EDGE_RETRIES: z.coerce.number().int().min(0).max(5).default(2),
  /** How often the edge re-reads deployments and replicas (it also refreshes on change). */
  FORMATION_EDGE_ROUTES_MS: envMs(1_000),
  /** ACME directory for certificates (custom domains, the apps domain); none: no automatic TLS. */
  FORMATION_ACME_DIRECTORY_URL: z.url().optional(),
  FORMATION_ACME_EMAIL: z.string().optional(),
  /** PEM file of the CA the ACME server's HTTPS certificate chains to (Pebble's test CA). */
  FORMATION_ACME_CA_FILE: z.string().optional(),
  /** DNS server (host:port) for domain-ownership TXT lookups (default: the system's resolver). */
  FORMATION_DNS_SERVER: z.string().optional(),
});

export type TIngressConfig = {
  enabled: boolean;
  appsDomain: string;
  /** Port for app URLs; undefined: the port of the listener serving the scheme. */
  publicPort: number | undefined;
  publicHttpsPort: number | undefined;
  edgeHttpPort: number | undefined;
  edgeHttpsPort: number | undefined;
  edgeHost: string | undefined;
  connectTimeoutMs: number;
  lastConnectTimeoutMs: number;
  suspectMs: number;
  retries: number;
  routesRefreshMs: number;
  acme: { directoryUrl: string; email: string | undefined; caFile: string | undefined } | null;
  dnsServer: string | undefined;
};

/** Parses the ingress settings; throws one error naming every bad variable. */
export function loadIngressConfig(source: Record<string, string | undefined> = process.env): TIngressConfig {
  const e = parseEnv(ZIngressEnv, source, "ingress");
  return {
    enabled: e.FORMATION_INGRESS === "1",
    appsDomain: e.FORMATION_APPS_DOMAIN,
    publicPort: e.FORMATION_APPS_PUBLIC_PORT,
    publicHttpsPort: e.FORMATION_APPS_PUBLIC_HTTPS_PORT,
    edgeHttpPort: e.FORMATION_EDGE_HTTP_PORT,
    edgeHttpsPort: e.FORMATION_EDGE_HTTPS_PORT,
    edgeHost: e.FORMATION_EDGE_HOST,
    connectTimeoutMs: e.FORMATION_EDGE_CONNECT_TIMEOUT_MS,
    lastConnectTimeoutMs: Math.max(
      e.FORMATION_EDGE_LAST_CONNECT_TIMEOUT_MS,
      e.FORMATION_EDGE_CONNECT_TIMEOUT_MS,
    ),
    suspectMs: e.FORMATION_EDGE_SUSPECT_MS,
    retries: e.FORMATION_EDGE_RETRIES,
    routesRefreshMs: e.FORMATION_EDGE_ROUTES_MS,
    acme: e.FORMATION_ACME_DIRECTORY_URL
      ? {
          directoryUrl: e.FORMATION_ACME_DIRECTORY_URL,
          email: e.FORMATION_ACME_EMAIL,
          caFile: e.FORMATION_ACME_CA_FILE,
        }
      : null,
    dnsServer: e.FORMATION_DNS_SERVER,
  };
}
