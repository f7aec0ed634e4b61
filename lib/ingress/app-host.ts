import { sha256 } from "@noble/hashes/sha2";
import { bytesToHex } from "@noble/hashes/utils";

/**
 * Host names of deployed apps: `<name>-<app id>[-p<port>]` under the apps domain (`localhost` in
 * the embedded default). The app id is derived from the owner and the Formfile NAME — what names a
 * deployment — so a build's URL is known before it is shipped, stays the same across rebuilds,
 * rollbacks and re-ships, and two owners' apps of one NAME never share a host.
 */

/** Hex digits of the app id: 32 bits, so a collision needs two owners' apps of the same NAME. */
export const APP_ID_LENGTH = 8;
/** DNS labels are at most 63 octets: `-` + app id + `-p65535` leave 48 for the NAME. */
const NAME_BUDGET = 63 - 1 - APP_ID_LENGTH - 7;
const LABEL = new RegExp(`^([a-z0-9](?:[a-z0-9-]*[a-z0-9])?)-([0-9a-f]{${APP_ID_LENGTH}})(?:-p(\\d{1,5}))?$`);

/** The app id of an owner's deployment NAME (hex; stable for the pair). */
export function appId(opts: { owner: string; name: string }): string {
  const bytes = new TextEncoder().encode(`formation-app/v1 ${opts.owner.toLowerCase()} ${opts.name}`);
  return bytesToHex(sha256(bytes)).slice(0, APP_ID_LENGTH);
}

/** The NAME as it appears in host names (shortened to fit a DNS label, no trailing hyphen). */
function labelName(name: string): string {
  return name.slice(0, NAME_BUDGET).replace(/-+$/, "") || "app";
}

/** The route key of a deployment: `<name>-<app id>` (the host label without a port). */
export function appRouteKey(opts: { owner: string; name: string }): string {
  return `${labelName(opts.name)}-${appId(opts)}`;
}

/** The host label of a deployment's port: the route key, plus `-p<port>` unless it is the default port. */
export function appHostLabel(opts: { owner: string; name: string; port?: number | undefined }): string {
  const key = appRouteKey(opts);
  return opts.port === undefined ? key : `${key}-p${opts.port}`;
}

export type TParsedAppHost = { routeKey: string; port: number | undefined };

/**
 * Parses the Host a request came with against the apps domain: `<label>.<domain>[:port]` (case-
 * insensitive, a trailing dot allowed). Null when the host is not an app host of that domain.
 */
export function parseAppHost(host: string | undefined, domain: string): TParsedAppHost | null {
  if (!host) return null;
  let name = host.toLowerCase();
  // Strip the port (IPv6 literals are never app hosts).
  const colon = name.lastIndexOf(":");
  if (colon !== -1 && !name.includes("]")) name = name.slice(0, colon);
  if (name.endsWith(".")) name = name.slice(0, -1);
  const suffix = `.${domain.toLowerCase()}`;
  if (!name.endsWith(suffix)) return null;
  const label = name.slice(0, -suffix.length);
  const match = LABEL.exec(label);
  if (!match) return null;
  const port = match[3] === undefined ? undefined : Number(match[3]);
  if (port !== undefined && (port < 1 || port > 65_535)) return null;
  return { routeKey: `${match[1]}-${match[2]}`, port };
}
