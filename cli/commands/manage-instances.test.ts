import type { Command } from "commander";
import { describe, expect, it } from "vitest";
import { buildProgram } from "../main";
import { actionTargets, actionVerb } from "./manage-instances";

/** `form manage <verb>` of a fresh program, its action replaced so parsing records the options. */
function manageVerb(verb: string): { program: Command; command: Command; seen: () => unknown } {
  const program = buildProgram();
  const command = program.commands
    .find((c) => c.name() === "manage")
    ?.commands.find((c) => c.name() === verb);
  if (!command) throw new Error(`no manage ${verb}`);
  let options: unknown = null;
  command.action((opts: unknown) => {
    options = opts;
  });
  command.configureOutput({ writeErr: () => undefined, writeOut: () => undefined });
  return { program, command, seen: () => options };
}

const instances = [
  { instanceId: "i-a", desired: "running", status: "running" },
  { instanceId: "i-b", desired: "stopped", status: "stopped" },
  { instanceId: "i-c", desired: "stopped", status: "suspended" },
  { instanceId: "i-d", desired: "deleted", status: "running" },
];

describe("form manage stop --suspend", () => {
  it("parses --suspend on stop, with the build and instance options", async () => {
    const stop = manageVerb("stop");
    await stop.program.parseAsync(["manage", "stop", "--suspend", "--build-id", "b1", "--instance", "i-a"], {
      from: "user",
    });
    expect(stop.seen()).toMatchObject({ suspend: true, buildId: "b1", instance: "i-a" });
    const plain = manageVerb("stop");
    await plain.program.parseAsync(["manage", "stop", "--build-id", "b1"], { from: "user" });
    expect(plain.seen()).not.toHaveProperty("suspend");
    expect(stop.command.options.find((o) => o.long === "--suspend")?.description).toBe(
      "suspend a build's instances: the guest's memory is saved and `start` resumes it",
    );
  });

  it("is a flag of stop only: start and the other verbs refuse it", async () => {
    for (const verb of ["start", "restart", "delete"]) {
      const other = manageVerb(verb);
      await expect(
        other.program.parseAsync(["manage", verb, "--suspend", "--build-id", "b1"], { from: "user" }),
      ).rejects.toMatchObject({ code: "commander.unknownOption" });
      expect(other.seen()).toBeNull();
    }
  });

  it("says suspend, and suspends only a build's running instances unless one is named", () => {
    expect(actionVerb("stop", { suspend: true })).toBe("suspend");
    expect(actionVerb("stop", {})).toBe("stop");
    expect(actionTargets(instances, "stop", { suspend: true }).map((i) => i.instanceId)).toEqual(["i-a"]);
    expect(actionTargets(instances, "stop", {}).map((i) => i.instanceId)).toEqual(["i-a", "i-b", "i-c"]);
    expect(actionTargets(instances, "start", {}).map((i) => i.instanceId)).toEqual(["i-a", "i-b", "i-c"]);
    // A named instance goes to the console as asked: it says why a stopped one cannot be suspended.
    expect(
      actionTargets(instances, "stop", { suspend: true, instance: "i-b" }).map((i) => i.instanceId),
    ).toEqual(["i-b"]);
    expect(actionTargets(instances, "stop", { suspend: true, instance: "i-d" })).toEqual([]);
  });
});
