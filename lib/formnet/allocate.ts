import { FormationError } from "../errors";
import { cidrContains, formatCidr, hostRange, intToIp, ipToInt, parseCidr, stripPrefix } from "./cidr";

/** Thrown when every host address of the formnet block is taken or reserved. */
export class FormnetExhaustedError extends FormationError<"FORMNET_EXHAUSTED"> {
  override readonly name = "FormnetExhaustedError";
  constructor(
    readonly cidr: string,
    readonly used: number,
  ) {
    super(
      "FORMNET_EXHAUSTED",
      `No free address left in formnet ${cidr} (${used} taken or reserved). ` +
        "Remove stale peers or configure a larger root CIDR.",
      { details: { cidr, used } },
    );
  }
}

export type TAllocateOptions = {
  /** Root block, e.g. `10.42.0.0/16`. */
  cidr: string;
  /** Addresses already held by peers (with or without a `/n` suffix). */
  taken: Iterable<string>;
  /** Addresses never handed out (e.g. a gateway); network and broadcast are always excluded. */
  reserved?: Iterable<string>;
};

/**
 * Lowest free host address of the block, as the original's joiners get. Pure: the caller (the
 * console, the only writer) stores the result under a unique constraint and retries on conflict.
 */
export function allocateLowestFree(options: TAllocateOptions): string {
  const block = parseCidr(options.cidr);
  const used = new Set<number>();
  for (const address of [...options.taken, ...(options.reserved ?? [])]) {
    const value = ipToInt(stripPrefix(address));
    // Addresses outside the block (e.g. from an older, smaller plan) cannot collide; ignore them.
    if (cidrContains(block, value)) used.add(value);
  }
  const { first, last } = hostRange(block);
  for (let candidate = first; candidate <= last; candidate++) {
    if (!used.has(candidate)) return intToIp(candidate);
  }
  throw new FormnetExhaustedError(formatCidr(block), used.size);
}
