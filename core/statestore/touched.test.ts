import * as Automerge from "@automerge/automerge";
import { describe, expect, it } from "vitest";
import { ObjectRoots } from "./touched";

type TDoc = Record<string, unknown> & { metrics?: { cpu: number; disks: number[] } };

function lastChange(doc: Automerge.Doc<TDoc>) {
  const bytes = Automerge.getLastLocalChange(doc);
  if (!bytes) throw new Error("no change");
  return Automerge.decodeChange(bytes);
}

describe("ObjectRoots", () => {
  it("attributes nested edits to the top-level field they live under", () => {
    const roots = new ObjectRoots();
    let doc = Automerge.change(Automerge.init<TDoc>(), (d) => {
      d.status = "Started";
      d.metrics = { cpu: 1, disks: [1] };
    });
    const first = roots.touched(lastChange(doc));
    expect(first.ok && [...first.fields].sort()).toEqual(["metrics", "status"]);
    if (first.ok) roots.commit(first.created);
    doc = Automerge.change(doc, (d) => {
      if (d.metrics) {
        d.metrics.cpu = 2;
        d.metrics.disks.push(3);
      }
    });
    const second = roots.touched(lastChange(doc));
    expect(second.ok && [...second.fields]).toEqual(["metrics"]);
    doc = Automerge.change(doc, (d) => {
      delete d.status;
    });
    const third = roots.touched(lastChange(doc));
    expect(third.ok && [...third.fields]).toEqual(["status"]);
  });

  it("refuses a change that edits an object it never saw created", () => {
    const doc = Automerge.change(Automerge.init<TDoc>(), (d) => {
      d.metrics = { cpu: 1, disks: [] };
    });
    const next = Automerge.change(doc, (d) => {
      if (d.metrics) d.metrics.cpu = 5;
    });
    // A fresh index never saw the first change, so the nested object is unknown to it.
    expect(new ObjectRoots().touched(lastChange(next)).ok).toBe(false);
  });
});
