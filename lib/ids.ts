import { type Hex, keccak256, stringToHex } from "viem";
import { z } from "zod";
import { type TFormfile, ZFormfile } from "./formfile/canonical";
import { canonicalJson } from "./formfile/canonical-json";

/**
 * Content-addressed identities. A build id commits to who builds what from which context, so equal
 * inputs give the same id and any change (one Formfile field, one context byte, another owner) a new
 * one — unlike the original's SHA3(owner ‖ NAME), where a rebuild silently overwrote the previous one.
 * Each preimage carries a `kind` tag so a build id can never collide with an instance id.
 */

const ZAddressInput = z.string().regex(/^0x[0-9a-fA-F]{40}$/, "expected a 0x-prefixed 20-byte address");
const ZDigestInput = z
  .string()
  .regex(/^(sha256:|0x)?[0-9a-fA-F]{64}$/, "expected sha256:<64 hex> (or 64 hex digits)")
  .transform((d) => `sha256:${d.replace(/^(sha256:|0x)/, "").toLowerCase()}`);
/** A build or instance id: 0x + 64 lower-case hex digits (keccak256). */
export const ZContentId = z.string().regex(/^0x[0-9a-f]{64}$/);

function keccakOf(value: unknown): Hex {
  return keccak256(stringToHex(canonicalJson(value)));
}

/** keccak256 over the canonical JSON of { kind, owner (lower-case), formfile, contextDigest }. */
export function computeBuildId(input: { owner: string; formfile: TFormfile; contextDigest: string }): Hex {
  const owner = ZAddressInput.parse(input.owner).toLowerCase();
  const contextDigest = ZDigestInput.parse(input.contextDigest);
  const formfile = ZFormfile.parse(input.formfile);
  return keccakOf({ kind: "formation.build.v1", owner, formfile, contextDigest });
}

/** keccak256 over the canonical JSON of { kind, buildId, nodeAddress (lower-case), replicaIndex }. */
export function computeInstanceId(input: {
  buildId: string;
  nodeAddress: string;
  replicaIndex: number;
}): Hex {
  const buildId = ZContentId.parse(input.buildId.toLowerCase());
  const nodeAddress = ZAddressInput.parse(input.nodeAddress).toLowerCase();
  const replicaIndex = z.number().int().min(0).parse(input.replicaIndex);
  return keccakOf({ kind: "formation.instance.v1", buildId, nodeAddress, replicaIndex });
}
