import { randomBytes } from "node:crypto";
import * as Automerge from "@automerge/automerge";
import { bytesToHex, type LocalAccount } from "viem";
import { type PrivateKeyAccount, privateKeyToAccount } from "viem/accounts";
import { WebSocket } from "ws";
import type { TRejectCode } from "../../lib/statestore/authorize";
import { actorFor, openEnvelope, sealChange, sealChanges, signingMessage, type TEnvelope } from "./envelope";
import { waitFor } from "./replica-harness";
import { envelopeDigest } from "./signer-keys";
import { parseWireMessage, STORE_PROTOCOL_VERSION, type TWireMessage } from "./wire";

/** A raw protocol peer for tests: says hello, fetches envelopes, sends whatever it is told to. */
export class AttackerPeer {
  readonly received: TEnvelope[] = [];
  readonly #ws: WebSocket;

  private constructor(ws: WebSocket) {
    this.#ws = ws;
    ws.on("message", (data: Buffer) => {
      const msg = parseWireMessage(data.toString("utf8"));
      if (msg?.t === "changes") this.received.push(...msg.envelopes);
    });
  }

  static async connect(url: string, replica: string): Promise<AttackerPeer> {
    const ws = new WebSocket(url);
    await new Promise<void>((resolve, reject) => {
      ws.once("open", resolve);
      ws.once("error", reject);
    });
    const peer = new AttackerPeer(ws);
    peer.send({ t: "hello", v: STORE_PROTOCOL_VERSION, replica, digest: "unknown" });
    return peer;
  }

  send(msg: TWireMessage): void {
    this.#ws.send(JSON.stringify(msg));
  }

  sendRaw(text: string): void {
    this.#ws.send(text);
  }

  sendEnvelopes(envelopes: readonly TEnvelope[]): void {
    for (let i = 0; i < envelopes.length; i += 500)
      this.send({ t: "changes", envelopes: envelopes.slice(i, i + 500) });
  }

  /** Asks for every change of `keys` (all documents when omitted) by claiming empty heads. */
  async fetchAll(keys?: readonly string[], expected?: number): Promise<TEnvelope[]> {
    const start = this.received.length;
    this.send({
      t: "heads",
      full: keys === undefined,
      docs: (keys ?? []).map((key) => ({ key, heads: [] })),
    });
    await waitFor(
      async () => this.received.length > start && this.received.length - start >= (expected ?? 1),
      {
        timeoutMs: 20_000,
        what: "envelopes from the replica",
      },
    );
    // Replies for one request are sent back to back; wait until the count stops growing for a turn.
    let count = -1;
    await waitFor(
      async () => {
        const settled = count === this.received.length;
        count = this.received.length;
        return settled;
      },
      { timeoutMs: 20_000, what: "end of the reply" },
    );
    return this.received.slice(start).filter((e) => !keys || keys.includes(e.key));
  }

  close(): void {
    this.#ws.close();
  }
}

async function makeChange(opts: {
  account: LocalAccount;
  actorAccount?: LocalAccount;
  key: string;
  history?: readonly TEnvelope[];
  set: Record<string, unknown>;
}): Promise<TEnvelope> {
  const actor = actorFor((opts.actorAccount ?? opts.account).address, randomBytes(12));
  let doc = Automerge.init<Record<string, unknown>>({ actor });
  const past = (opts.history ?? []).map((e) => new Uint8Array(Buffer.from(e.change, "base64")));
  [doc] = Automerge.applyChanges(doc, past);
  doc = Automerge.change(doc, (d) => Object.assign(d, opts.set));
  const bytes = Automerge.getLastLocalChange(doc);
  if (!bytes) throw new Error("no change made");
  const signed = await sealChange({ account: opts.account, key: opts.key, bytes });
  return signed.envelope;
}

/**
 * One of each kind of bad change, with the reject code every replica must answer. `keys[0]` is the
 * console; `instanceKey` is hosted by `addresses[2]` and `history` is its accepted changes.
 */
export async function forgedEnvelopes(opts: {
  keys: readonly string[];
  addresses: readonly string[];
  attacker: PrivateKeyAccount;
  history: readonly TEnvelope[];
  instanceKey: string;
}): Promise<{ envelope: TEnvelope; expect: TRejectCode }[]> {
  const acct = (i: number) => privateKeyToAccount(opts.keys[i] as `0x${string}`);
  const [consoleAcct, node1, host] = [acct(0), acct(1), acct(2)];
  const { attacker, history, instanceKey } = opts;
  const out: { envelope: TEnvelope; expect: TRejectCode }[] = [];
  const add = async (expect: TRejectCode, envelope: Promise<TEnvelope> | TEnvelope) =>
    out.push({ envelope: await envelope, expect });

  await add(
    "unknown-signer",
    makeChange({ account: attacker, key: `nodes/${attacker.address.toLowerCase()}`, set: { heartbeat: 1 } }),
  );
  await add(
    "forbidden",
    makeChange({ account: node1, key: `nodes/${opts.addresses[2]}`, set: { heartbeat: 666 } }),
  );
  await add(
    "forbidden",
    makeChange({ account: node1, key: instanceKey, history, set: { status: "hijacked" } }),
  );
  await add("forbidden", makeChange({ account: host, key: instanceKey, history, set: { build: "evil" } }));
  await add(
    "actor-mismatch",
    makeChange({
      account: node1,
      actorAccount: host,
      key: `nodes/${node1.address.toLowerCase()}`,
      set: { x: 1 },
    }),
  );
  const genuine = await makeChange({ account: consoleAcct, key: "dns/forged", set: { value: "10.42.9.9" } });
  // The attacker's own valid signature over the genuine change, claiming the console signed it.
  const badSig = await attacker.sign({
    hash: bytesToHex(envelopeDigest(signingMessage(genuine.key, genuine.hash))),
  });
  await add("bad-signature", { ...genuine, signature: badSig });
  const legacySig = await attacker.signMessage({ message: signingMessage(genuine.key, genuine.hash, 1) });
  await add("bad-signature", { ...genuine, v: undefined, signature: legacySig });
  await add("bad-version", { ...genuine, v: 9 });
  // A genuine batch-signed console change whose Merkle path was bent to carry a forged change.
  const [batched] = await sealChanges({
    account: consoleAcct,
    changes: await Promise.all(
      ["dns/batch-a", "dns/batch-b"].map(async (key) => ({
        key,
        bytes: Buffer.from(
          (await makeChange({ account: consoleAcct, key, set: { value: key } })).change,
          "base64",
        ),
      })),
    ),
  });
  if (batched?.envelope.proof) {
    const evil = await makeChange({ account: consoleAcct, key: "dns/batch-evil", set: { value: "6.6.6.6" } });
    await add("bad-signature", {
      ...evil,
      signature: batched.envelope.signature,
      proof: batched.envelope.proof,
    });
  }
  // A genuine console change moved to another entity: the signature binds the key, so it fails.
  const first = history[0];
  if (first) await add("bad-signature", { ...first, key: "instances/moved" });
  const bytes = Buffer.from(genuine.change, "base64");
  bytes[bytes.length - 3] = (bytes[bytes.length - 3] ?? 0) ^ 0x01;
  const tampered = { ...genuine, change: bytes.toString("base64") };
  const verdict = await openEnvelope(tampered);
  if (verdict.ok || (verdict.code !== "bad-hash" && verdict.code !== "malformed")) {
    throw new Error(`tampered bytes were not caught by verification: ${JSON.stringify(verdict)}`);
  }
  await add(verdict.code, tampered);
  return out;
}
