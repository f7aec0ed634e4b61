/**
 * IPv4 CIDR arithmetic for the formnet address plan. Addresses are handled as unsigned 32-bit
 * integers so that allocation over a /16 is a simple integer walk.
 */

import { FormationError } from "../errors";

/** Thrown for malformed IPv4 addresses or CIDR blocks. */
export class FormnetAddressError extends FormationError<"FORMNET_BAD_ADDRESS"> {
  override readonly name = "FormnetAddressError";
  constructor(
    readonly input: string,
    problem: string,
  ) {
    super("FORMNET_BAD_ADDRESS", `Invalid formnet address "${input}": ${problem}`, { details: { input } });
  }
}

export type TCidr = {
  /** Network address as an unsigned 32-bit integer. */
  network: number;
  prefix: number;
};

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/** Parse a dotted-quad IPv4 address into an unsigned 32-bit integer. */
export function ipToInt(ip: string): number {
  const match = IPV4.exec(ip.trim());
  if (!match) throw new FormnetAddressError(ip, "expected a dotted-quad IPv4 address");
  let value = 0;
  for (const part of match.slice(1)) {
    if (part.length > 1 && part.startsWith("0")) throw new FormnetAddressError(ip, "leading zero in octet");
    const octet = Number(part);
    if (octet > 255) throw new FormnetAddressError(ip, `octet ${octet} exceeds 255`);
    value = value * 256 + octet;
  }
  return value >>> 0;
}

/** Format an unsigned 32-bit integer as a dotted-quad IPv4 address. */
export function intToIp(value: number): string {
  const v = value >>> 0;
  return [v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255].join(".");
}

/** Network mask of a prefix length as an unsigned 32-bit integer. */
export function prefixMask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** Parse `a.b.c.d/n`; host bits must be zero (so a typo such as 10.42.0.1/16 is caught). */
export function parseCidr(cidr: string): TCidr {
  const [ip, prefixText, extra] = cidr.trim().split("/");
  if (ip === undefined || prefixText === undefined || extra !== undefined || !/^\d{1,2}$/.test(prefixText)) {
    throw new FormnetAddressError(cidr, "expected a.b.c.d/prefix");
  }
  const prefix = Number(prefixText);
  if (prefix > 32) throw new FormnetAddressError(cidr, "prefix must be 0..32");
  const network = ipToInt(ip);
  if ((network & ~prefixMask(prefix)) >>> 0 !== 0) {
    throw new FormnetAddressError(
      cidr,
      `host bits set; did you mean ${formatCidr({ network: network & prefixMask(prefix), prefix })}?`,
    );
  }
  return { network, prefix };
}

/** Format a parsed CIDR back to `a.b.c.d/n`. */
export function formatCidr(cidr: TCidr): string {
  return `${intToIp(cidr.network)}/${cidr.prefix}`;
}

/** Number of addresses in the block (2^(32-prefix)). */
export function cidrSize(cidr: TCidr): number {
  return 2 ** (32 - cidr.prefix);
}

/** True when `ip` lies inside `cidr` (network and broadcast included). */
export function cidrContains(cidr: TCidr | string, ip: string | number): boolean {
  const block = typeof cidr === "string" ? parseCidr(cidr) : cidr;
  const value = typeof ip === "number" ? ip >>> 0 : ipToInt(ip);
  return (value & prefixMask(block.prefix)) >>> 0 === block.network;
}

/** Usable host range: network and broadcast are excluded for prefixes shorter than /31. */
export function hostRange(cidr: TCidr): { first: number; last: number } {
  const last = (cidr.network + cidrSize(cidr) - 1) >>> 0;
  if (cidr.prefix >= 31) return { first: cidr.network, last };
  return { first: cidr.network + 1, last: last - 1 };
}

/** `10.42.0.7` → `10.42.0.7/32`; an existing `/32` suffix is kept, any other prefix is rejected. */
export function hostCidr(ip: string): string {
  const [addr, prefix] = ip.split("/");
  if (addr === undefined || (prefix !== undefined && prefix !== "32")) {
    throw new FormnetAddressError(ip, "expected a single host address");
  }
  return `${intToIp(ipToInt(addr))}/32`;
}

/** Strip an optional `/n` suffix from an interface address such as `10.42.0.7/16`. */
export function stripPrefix(address: string): string {
  const [addr] = address.split("/");
  return intToIp(ipToInt(addr ?? ""));
}
