import type { DecodedChange } from "@automerge/automerge";

const MAKE_ACTIONS = new Set(["makeMap", "makeList", "makeText", "makeTable"]);

export type TTouched =
  | { ok: true; fields: Set<string>; created: Map<string, string> }
  | { ok: false; detail: string };

/**
 * Maps every nested object of one entity document to the top-level field it hangs under, so the
 * fields a change touches can be read from its operations alone. Deciding from operations (not from
 * a state diff) is deterministic: the answer depends only on the change and its causal past, which
 * every replica shares, never on which concurrent changes happened to arrive first.
 */
export class ObjectRoots {
  readonly #rootOf = new Map<string, string>();

  /** Top-level fields touched by `change`; fails if it refers to an object this document never made. */
  touched(change: DecodedChange): TTouched {
    const fields = new Set<string>();
    const created = new Map<string, string>();
    for (const [index, op] of change.ops.entries()) {
      let field: string | undefined;
      if (op.obj === "_root") field = op.key;
      else field = created.get(op.obj) ?? this.#rootOf.get(op.obj);
      if (field === undefined || field === "") {
        return { ok: false, detail: `operation ${index} targets unknown object ${op.obj}` };
      }
      fields.add(field);
      // Op ids are `${startOp + index}@${actor}`; nested objects inherit the field they were made in.
      if (MAKE_ACTIONS.has(op.action)) created.set(`${change.startOp + index}@${change.actor}`, field);
    }
    return { ok: true, fields, created };
  }

  /** Records the objects an accepted change created. */
  commit(created: ReadonlyMap<string, string>): void {
    for (const [obj, field] of created) this.#rootOf.set(obj, field);
  }
}
