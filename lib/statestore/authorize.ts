import { parseEntityKey, type TEntityKind } from "./entities";

/** Roles a signing key can hold; one key may hold several (e.g. a console that is also an operator). */
export type TWriterRole = "console" | "node" | "operator";

/**
 * Source of truth for who may sign changes. Injected into the store: configuration today, the
 * console's admission list or the orchestration contract later. Must be synchronous and
 * deterministic for a given address so every replica decides the same way.
 */
export interface Authorizer {
  rolesOf(address: string): readonly TWriterRole[];
}

export const REJECT_CODES = [
  "malformed",
  "bad-version",
  "bad-hash",
  "bad-signature",
  "actor-mismatch",
  "unknown-signer",
  "bad-key",
  "forbidden",
  "unknown-object",
  "empty-change",
  "equivocation",
  "bad-seq",
] as const;
export type TRejectCode = (typeof REJECT_CODES)[number];

export type TAuthorizeResult = { ok: true } | { ok: false; code: TRejectCode; detail: string };

export type TAuthorizeInput = {
  key: string;
  /** Lower-case 0x address that signed the change. */
  signer: string;
  roles: readonly TWriterRole[];
  /** Top-level fields of the entity document the change's operations touch. */
  touched: ReadonlySet<string>;
  /** Lazily reads `instance.node` as of the change's dependencies (its causal past). */
  hostOf: () => string | undefined;
};

// Who writes what, per kind (see grantsFor).
// Node records: the node owns its own record except the ownership fields the console assigns.
const CONSOLE_NODE_FIELDS = ["operator", "admitted"] as const;
// Instances: placement, ownership and addresses are the console's; the host reports state only.
const HOST_INSTANCE_FIELDS = ["status", "metrics"] as const;
// Accounts: an operator edits its own profile, never ownership.
const OPERATOR_ACCOUNT_FIELDS = ["displayName", "contact", "payoutAddress"] as const;

// A grant says which top-level fields a signer may touch on one entity.
type TGrant = (field: string) => boolean;

const ALL: TGrant = () => true;
const only =
  (fields: readonly string[]): TGrant =>
  (field) =>
    fields.includes(field);
const allExcept =
  (fields: readonly string[]): TGrant =>
  (field) =>
    !fields.includes(field);

function grantsFor(input: TAuthorizeInput, kind: TEntityKind, id: string): TGrant[] {
  const { roles, signer } = input;
  const isConsole = roles.includes("console");
  const grants: TGrant[] = [];
  switch (kind) {
    case "nodes":
      if (roles.includes("node") && id === signer) grants.push(allExcept(CONSOLE_NODE_FIELDS));
      if (isConsole) grants.push(only(CONSOLE_NODE_FIELDS));
      break;
    case "instances":
      if (isConsole) grants.push(ALL);
      else if (roles.includes("node") && input.hostOf()?.toLowerCase() === signer) {
        grants.push(only(HOST_INSTANCE_FIELDS));
      }
      break;
    case "accounts":
      if (isConsole) grants.push(ALL);
      else if (roles.includes("operator") && id === signer) grants.push(only(OPERATOR_ACCOUNT_FIELDS));
      break;
    default:
      // Formnet allocations (peers, CIDRs, associations) and DNS are the console's alone.
      if (isConsole) grants.push(ALL);
  }
  return grants;
}

/**
 * Decides whether `signer` may apply a change touching `touched` fields of entity `key`. Pure and
 * deterministic: the same inputs give the same answer on every replica, which is what keeps
 * replicas that reject a change from diverging from each other.
 */
export function authorizeWrite(input: TAuthorizeInput): TAuthorizeResult {
  if (input.roles.length === 0)
    return { ok: false, code: "unknown-signer", detail: `${input.signer} is not admitted` };
  const ref = parseEntityKey(input.key);
  if (!ref) return { ok: false, code: "bad-key", detail: `not an entity key: ${input.key}` };
  if (input.touched.size === 0) return { ok: false, code: "empty-change", detail: "change touches no field" };
  const grants = grantsFor(input, ref.kind, ref.id);
  if (grants.length === 0) {
    return {
      ok: false,
      code: "forbidden",
      detail: `${input.signer} (${input.roles.join(",")}) may not write ${input.key}`,
    };
  }
  const denied = [...input.touched].filter((field) => !grants.some((grant) => grant(field)));
  if (denied.length > 0) {
    return {
      ok: false,
      code: "forbidden",
      detail: `${input.signer} may not write ${input.key}.${denied.join(",")}`,
    };
  }
  return { ok: true };
}

/** Authorizer from a fixed list, e.g. the console address plus admitted node and operator addresses. */
export class StaticAuthorizer implements Authorizer {
  readonly #roles = new Map<string, TWriterRole[]>();

  constructor(entries: { console?: string; nodes?: readonly string[]; operators?: readonly string[] }) {
    if (entries.console) this.add(entries.console, "console");
    for (const node of entries.nodes ?? []) this.add(node, "node");
    for (const op of entries.operators ?? []) this.add(op, "operator");
  }

  /** Admits `address` with `role` (e.g. when the console admits a node). */
  add(address: string, role: TWriterRole): void {
    const key = address.toLowerCase();
    const roles = this.#roles.get(key) ?? [];
    if (!roles.includes(role)) roles.push(role);
    this.#roles.set(key, roles);
  }

  rolesOf(address: string): readonly TWriterRole[] {
    return this.#roles.get(address.toLowerCase()) ?? [];
  }
}
