import { z } from "zod";

/**
 * Entity kinds of the replicated state store. Each entity is one Automerge document whose key is
 * `<kind>/<id>`, so authorization is decided per document and then per top-level field.
 */
export const ENTITY_KINDS = ["nodes", "instances", "peers", "cidrs", "assocs", "dns", "accounts"] as const;

export const ZEntityKind = z.enum(ENTITY_KINDS);
export type TEntityKind = z.infer<typeof ZEntityKind>;

// Ids are path-safe so keys can be logged and split unambiguously; CIDRs use `_` for `/`
// (`cidrs/10.42.0.0_16`). Address-keyed kinds (nodes, accounts) use lower-case 0x addresses.
const ID_PATTERN = /^[A-Za-z0-9._:@+-]{1,200}$/;

export const ZEntityKey = z.string().refine((key) => parseEntityKey(key) !== undefined, {
  message: "entity key must be <kind>/<id> with a known kind and a path-safe id",
});

export type TEntityRef = { kind: TEntityKind; id: string };

/** Splits `<kind>/<id>`; undefined when the kind is unknown or the id is not path-safe. */
export function parseEntityKey(key: string): TEntityRef | undefined {
  const slash = key.indexOf("/");
  if (slash <= 0) return undefined;
  const kind = ZEntityKind.safeParse(key.slice(0, slash));
  const id = key.slice(slash + 1);
  if (!kind.success || !ID_PATTERN.test(id)) return undefined;
  return { kind: kind.data, id };
}

/** Builds the canonical key of an entity; address-keyed kinds are lower-cased. */
export function entityKey(kind: TEntityKind, id: string): string {
  const normalized = kind === "nodes" || kind === "accounts" ? id.toLowerCase() : id;
  const key = `${kind}/${normalized}`;
  if (!parseEntityKey(key)) throw new RangeError(`invalid entity id for ${kind}: ${JSON.stringify(id)}`);
  return key;
}

const ZAddress = z.string().regex(/^0x[0-9a-fA-F]{40}$/);

// Documented shapes of the entities. The store itself accepts any JSON-like document (the CRDT
// merges fields, not schemas); readers parse with these to get typed values and tolerate extras.
export const ZNodeRecord = z.looseObject({
  operator: ZAddress.optional(),
  capabilities: z.looseObject({}).optional(),
  capacity: z.looseObject({ vcpu: z.number(), memMb: z.number(), diskGb: z.number() }).partial().optional(),
  heartbeat: z.number().optional(),
  metrics: z.looseObject({}).optional(),
});
export type TNodeRecord = z.infer<typeof ZNodeRecord>;

export const ZInstanceRecord = z.looseObject({
  node: ZAddress.optional(),
  build: z.string().optional(),
  owner: ZAddress.optional(),
  formnetIp: z.string().optional(),
  status: z.string().optional(),
  resources: z.looseObject({}).optional(),
  metrics: z.looseObject({}).optional(),
});
export type TInstanceRecord = z.infer<typeof ZInstanceRecord>;

export const ZPeerRecord = z.looseObject({
  publicKey: z.string().optional(),
  ip: z.string().optional(),
  endpoint: z.string().optional(),
  admin: z.boolean().optional(),
  cidr: z.string().optional(),
});
export type TPeerRecord = z.infer<typeof ZPeerRecord>;

export const ZCidrRecord = z.looseObject({ cidr: z.string().optional(), parent: z.string().optional() });
export const ZAssocRecord = z.looseObject({ a: z.string().optional(), b: z.string().optional() });
export const ZDnsRecord = z.looseObject({
  name: z.string().optional(),
  type: z.string().optional(),
  value: z.string().optional(),
});
export const ZAccountRecord = z.looseObject({
  displayName: z.string().optional(),
  contact: z.string().optional(),
  payoutAddress: ZAddress.optional(),
  owns: z.array(z.string()).optional(),
});
