import { type Hex, keccak256, stringToBytes, type TypedDataDefinition } from "viem";
import { canonicalJson } from "./canonical-json";

export const ZERO_DIGEST: Hex = `0x${"0".repeat(64)}`;

/** EIP-712 types of a Formation action. Changing them invalidates every client: version the domain. */
export const FORMATION_ACTION_TYPES = {
  FormationAction: [
    { name: "action", type: "string" },
    { name: "paramsHash", type: "bytes32" },
    { name: "contentDigest", type: "bytes32" },
    { name: "origin", type: "string" },
    { name: "nonce", type: "string" },
    { name: "expiresAt", type: "uint64" },
  ],
} as const;

export type TFormationActionTypedData = TypedDataDefinition<typeof FORMATION_ACTION_TYPES, "FormationAction">;

export type TActionFields = {
  action: string;
  params: unknown;
  /** bytes32 digest of attached content (e.g. the build context tarball), or ZERO_DIGEST. */
  contentDigest?: Hex;
  /** The console's public origin, e.g. `https://console.example.org`. */
  origin: string;
  nonce: string;
  /** Unix seconds. */
  expiresAt: number;
  chainId: number;
};

/** keccak256 of the canonical JSON of an action's params. */
export function hashParams(params: unknown): Hex {
  return keccak256(stringToBytes(canonicalJson(params ?? null)));
}

/** The EIP-712 typed data a wallet signs for `fields`. */
export function buildActionTypedData(fields: TActionFields): TFormationActionTypedData {
  return {
    domain: { name: "Formation", version: "1", chainId: fields.chainId },
    types: FORMATION_ACTION_TYPES,
    primaryType: "FormationAction",
    message: {
      action: fields.action,
      paramsHash: hashParams(fields.params),
      contentDigest: fields.contentDigest ?? ZERO_DIGEST,
      origin: fields.origin,
      nonce: fields.nonce,
      expiresAt: BigInt(fields.expiresAt),
    },
  };
}
