import { randomBytes } from "node:crypto";
import type { IncomingMessage } from "node:http";
import { isAddress } from "viem";
import { verifyAgentChallenge } from "@/lib/signing/agent-auth";

/** HTTP route handing out one-time nonces for `/ws/store` dialers (see docs/statestore.md "Wiring"). */
export const STORE_CHALLENGE_PATH = "/api/statestore/challenge";
/** Upgrade-request headers carrying the dialer's answer (core/statestore/dialer.ts sends them). */
export const STORE_AUTH_HEADERS = {
  operator: "x-formation-operator",
  nonce: "x-formation-nonce",
  signature: "x-formation-signature",
} as const;

const NONCE_TTL_MS = 60_000;
const MAX_OPEN_NONCES = 10_000;
// A distinct prefix keeps store nonces from ever being valid answers on the agent gateway and back.
const NONCE_PREFIX = "statestore-";

export type TStoreAuthResult =
  | { ok: true; address: string }
  | { ok: false; status: 401 | 403; reason: string };

/**
 * Authenticates replicas dialing `/ws/store` with the agent challenge (`lib/signing/agent-auth.ts`):
 * GET the challenge for a one-time nonce, then upgrade with the operator address, the nonce and a
 * personal_sign of `buildAgentChallenge(nonce, origin)`. The address must pass `isAdmitted` (the
 * same admission as the agent gateway). Nonces live in this process only: a dialer upgrades on the
 * console that issued its nonce (a load balancer needs session affinity for the two requests).
 */
export class StoreAuthenticator {
  readonly #origin: string;
  readonly #isAdmitted: (address: string) => Promise<boolean>;
  readonly #nonces = new Map<string, number>();

  constructor(opts: { origin: string; isAdmitted: (address: string) => Promise<boolean> }) {
    this.#origin = opts.origin;
    this.#isAdmitted = opts.isAdmitted;
  }

  issue(now = Date.now()): { nonce: string; origin: string } {
    for (const [nonce, expires] of this.#nonces) {
      if (expires > now && this.#nonces.size < MAX_OPEN_NONCES) break;
      this.#nonces.delete(nonce);
    }
    const nonce = `${NONCE_PREFIX}${randomBytes(16).toString("hex")}`;
    this.#nonces.set(nonce, now + NONCE_TTL_MS);
    return { nonce, origin: this.#origin };
  }

  async authenticate(req: IncomingMessage, now = Date.now()): Promise<TStoreAuthResult> {
    const header = (name: string) => {
      const value = req.headers[name];
      return Array.isArray(value) ? value[0] : value;
    };
    const operator = header(STORE_AUTH_HEADERS.operator);
    const nonce = header(STORE_AUTH_HEADERS.nonce);
    const signature = header(STORE_AUTH_HEADERS.signature);
    if (
      !operator ||
      !nonce ||
      !signature ||
      !isAddress(operator, { strict: false }) ||
      !/^0x[0-9a-fA-F]+$/.test(signature)
    )
      return { ok: false, status: 401, reason: "missing or malformed store credentials" };
    const expires = this.#nonces.get(nonce);
    // One use only, whatever the outcome.
    this.#nonces.delete(nonce);
    if (expires === undefined || expires < now)
      return { ok: false, status: 401, reason: "unknown or expired nonce" };
    const signed = await verifyAgentChallenge({
      nonce,
      origin: this.#origin,
      address: operator as `0x${string}`,
      signature: signature as `0x${string}`,
    });
    if (!signed) return { ok: false, status: 401, reason: "signature does not match the operator" };
    const address = operator.toLowerCase();
    if (!(await this.#isAdmitted(address)))
      return { ok: false, status: 403, reason: `${address} is not admitted` };
    return { ok: true, address };
  }
}
