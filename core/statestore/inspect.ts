/**
 * Read-only look into a replica directory, for operators and debugging:
 *   npx tsx core/statestore/inspect.ts DIR                  entities per kind, with change counts
 *   npx tsx core/statestore/inspect.ts DIR --kind nodes     every entity of a kind with its value
 *   npx tsx core/statestore/inspect.ts DIR --key KEY        value and history (hash, signer, time, deps)
 *   add --verify to re-check every signature, --json for machine-readable output.
 * It never writes to DIR, so it is safe on a live replica.
 */
import * as Automerge from "@automerge/automerge";
import { Command } from "commander";
import { ZEntityKind } from "../../lib/statestore/entities";
import { EntityDoc } from "./entity-doc";
import { openEnvelope } from "./envelope";
import { readReplicaDir } from "./persistence";

type TOptions = { kind?: string; key?: string; verify?: boolean; json?: boolean };

async function loadDocs(
  dir: string,
  verify: boolean,
): Promise<{ docs: Map<string, EntityDoc>; bad: string[] }> {
  const loaded = await readReplicaDir(dir);
  const docs = new Map<string, EntityDoc>();
  const bad: string[] = [];
  const batches = new Map<EntityDoc, Uint8Array[]>();
  for (const { envelope } of loaded.entries) {
    if (verify) {
      const opened = await openEnvelope(envelope);
      if (!opened.ok) bad.push(`${envelope.key} ${envelope.hash}: ${opened.code} ${opened.detail}`);
    }
    const entity = docs.get(envelope.key) ?? new EntityDoc(envelope.key, "00");
    docs.set(envelope.key, entity);
    if (entity.has(envelope.hash)) continue;
    const bytes = new Uint8Array(Buffer.from(envelope.change, "base64"));
    entity.record({ envelope, bytes, decoded: Automerge.decodeChange(bytes) }, new Map(), false);
    batches.set(entity, [...(batches.get(entity) ?? []), bytes]);
  }
  for (const [entity, batch] of batches) [entity.doc] = Automerge.applyChanges(entity.doc, batch);
  if (loaded.skippedLines > 0) bad.push(`${loaded.skippedLines} corrupt log lines skipped`);
  return { docs, bad };
}

function historyOf(entity: EntityDoc) {
  return entity.order.flatMap((hash) => {
    const r = entity.changes.get(hash);
    return r
      ? [{ hash, signer: r.envelope.signer, time: new Date(r.time * 1000).toISOString(), deps: r.deps }]
      : [];
  });
}

async function main(dir: string, opts: TOptions): Promise<void> {
  const out = (text: string) => process.stdout.write(`${text}\n`);
  const { docs, bad } = await loadDocs(dir, opts.verify ?? false);
  let result: unknown;
  if (opts.key) {
    const entity = docs.get(opts.key);
    if (!entity) throw new Error(`no entity ${opts.key} in ${dir}; run without --key to list entities`);
    result = { key: opts.key, value: entity.value(), history: historyOf(entity) };
  } else {
    const kind = opts.kind === undefined ? undefined : ZEntityKind.parse(opts.kind);
    const entities = [...docs.values()]
      .filter((e) => !kind || e.key.startsWith(`${kind}/`))
      .sort((a, b) => (a.key < b.key ? -1 : 1));
    result = entities.map((e) => ({
      key: e.key,
      changes: e.order.length,
      signers: [...new Set(historyOf(e).map((h) => h.signer))],
      ...(kind ? { value: e.value() } : {}),
    }));
  }
  if (opts.json) out(JSON.stringify({ result, problems: bad }, null, 2));
  else {
    out(JSON.stringify(result, null, 2));
    if (opts.verify) out(bad.length === 0 ? "all signatures verify" : `problems:\n${bad.join("\n")}`);
  }
  if (bad.length > 0 && opts.verify) process.exitCode = 2;
}

const program = new Command("statestore-inspect")
  .argument("<dir>", "replica directory (holds changes.log and snapshot.json)")
  .option("--kind <kind>", "list entities of one kind with their values")
  .option("--key <key>", "show one entity's value and signed history")
  .option("--verify", "re-verify every change's hash and signature")
  .option("--json", "machine-readable output")
  .action((dir: string, opts: TOptions) => main(dir, opts));

program.parseAsync().catch((error: unknown) => {
  process.stderr.write(`inspect failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
