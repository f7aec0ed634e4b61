import { describe, expect, it } from "vitest";
import type { TPrompter } from "./prompt";
import { ZAgentConfig } from "./schema";
import { collectInitAnswers } from "./wizard";

/** Answers every question with its default and records what was asked. */
function defaultsPrompter(asked: string[]): TPrompter {
  return {
    ask: async (question, defaultValue) => {
      asked.push(question);
      return defaultValue ?? "";
    },
    secret: async () => "a long enough password",
    confirm: async (_q, d) => d,
    close: () => undefined,
  };
}

const host = { vcpu: 2, memoryMb: 4096, diskGb: 20 };

describe("init wizard", () => {
  it("offers a formnet port nothing on this host holds, and says why it is not 51820", async () => {
    const asked: string[] = [];
    const answers = await collectInitAnswers({
      flags: { generateKey: true, password: "a long enough password" },
      prompter: defaultsPrompter(asked),
      host,
      freeUdpPort: async () => 51821,
    });
    expect(answers.config.formnet?.listenPort).toBe(51821);
    expect(asked).toContain("formnet WireGuard UDP port (51820 is in use on this host)");
  });

  it("keeps 51820 when it is free and an explicit --formnet-port always", async () => {
    const free = await collectInitAnswers({
      flags: { generateKey: true, password: "a long enough password" },
      prompter: defaultsPrompter([]),
      host,
      freeUdpPort: async (from) => from,
    });
    expect(free.config.formnet?.listenPort).toBe(51820);
    const flagged = await collectInitAnswers({
      flags: { generateKey: true, password: "a long enough password", formnetPort: 51900 },
      prompter: defaultsPrompter([]),
      host,
      freeUdpPort: async () => 51821,
    });
    expect(flagged.config.formnet?.listenPort).toBe(51900);
  });

  it("writes --images-keep-recent and --images-min-age-minutes into the image GC settings and leaves the defaults otherwise", async () => {
    const base = { generateKey: true, password: "a long enough password" };
    const options = { prompter: defaultsPrompter([]), host, freeUdpPort: async (from: number) => from };
    const kept = await collectInitAnswers({ ...options, flags: { ...base, imagesKeepRecent: 10_000 } });
    expect(kept.config.images).toEqual({ keepRecent: 10_000 });
    const young = await collectInitAnswers({ ...options, flags: { ...base, imagesMinAgeMinutes: 1 } });
    expect(young.config.images).toEqual({ minAgeMinutes: 1 });
    expect(ZAgentConfig.shape.images.parse(young.config.images)).toEqual({ keepRecent: 5, minAgeMinutes: 1 });
    const plain = await collectInitAnswers({ ...options, flags: base });
    expect(plain.config.images).toBeUndefined();
  });

  it("writes --vm-snapshots into the VM settings; snapshots are on unless turned off", async () => {
    const base = { generateKey: true, password: "a long enough password" };
    const options = { prompter: defaultsPrompter([]), host, freeUdpPort: async (from: number) => from };
    const off = await collectInitAnswers({ ...options, flags: { ...base, vmSnapshots: false } });
    expect(off.config.vms).toEqual({ snapshots: false });
    const plain = await collectInitAnswers({ ...options, flags: base });
    expect(plain.config.vms).toBeUndefined();
    expect(ZAgentConfig.shape.vms.parse(plain.config.vms)).toEqual({ snapshots: true });
  });
});
