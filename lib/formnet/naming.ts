import { sha256 } from "@noble/hashes/sha2";
import { bytesToHex } from "@noble/hashes/utils";
import type { TFormnetRole } from "./schemas";

/** Linux limits interface names to 15 bytes (IFNAMSIZ - 1). */
export const IFNAME_MAX = 15;

const ROLE_LETTER: Record<TFormnetRole, string> = {
  node: "n",
  console: "c",
  user: "u",
};

/**
 * Short, stable id part: readable when the id is short, else a readable head plus a hash tail, so
 * two long ids with the same prefix still get distinct names.
 */
function shortId(id: string, room: number): string {
  const clean = id.toLowerCase().replace(/[^a-z0-9]/g, "");
  if (clean.length > 0 && clean.length <= room) return clean;
  const hash = bytesToHex(sha256(new TextEncoder().encode(id)));
  const head = clean.slice(0, Math.max(0, room - 6));
  return `${head}${hash}`.slice(0, room);
}

/**
 * WireGuard interface name `fn-<role letter><short id>` (≤ 15 chars). Unique per member id, so the
 * console, an agent and a laptop on one host never share a control socket in /var/run/wireguard.
 */
export function formnetInterfaceName(options: { role: TFormnetRole; id: string }): string {
  const prefix = `fn-${ROLE_LETTER[options.role]}`;
  return `${prefix}${shortId(options.id, IFNAME_MAX - prefix.length)}`;
}

/** The formnet member id of a console host: stable per WireGuard key, distinct between consoles. */
export function consoleMemberRef(publicKey: string): string {
  return `console-${bytesToHex(sha256(new TextEncoder().encode(publicKey))).slice(0, 12)}`;
}

/**
 * iptables chain guarding one VM: `FN-<bridge hash>-<ip hex>` (≤ 28 characters). The bridge is part
 * of the name so two agents on one host whose formnets overlap never share (and delete) a chain.
 */
export function instanceChainName(options: { vmIp: string; bridge: string }): string {
  const hex = options.vmIp
    .split(".")
    .map((octet) => Number(octet).toString(16).padStart(2, "0"))
    .join("");
  const bridge = bytesToHex(sha256(new TextEncoder().encode(options.bridge))).slice(0, 6);
  return `FN-${bridge}-${hex}`;
}
