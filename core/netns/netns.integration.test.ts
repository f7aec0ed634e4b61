import { describe, expect, it } from "vitest";
import { run, succeeds } from "../formnet/command";
import { Netns, NetnsLab, runSuffix } from "./netns";

const listNamespaces = async (): Promise<string> => run("ip", ["netns", "list"]);
const alive = (pid: number | undefined): boolean => {
  if (pid === undefined) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe("network namespace lab", () => {
  it("connects hosts over a LAN and removes namespaces and their processes on destroy", async () => {
    const lab = await NetnsLab.create();
    let sleeper: ReturnType<Netns["spawn"]> | undefined;
    try {
      const a = await lab.addHost("a");
      const b = await lab.addHost("b");
      expect(a.lanIp).not.toBe(b.lanIp);
      expect(await succeeds("busybox", ["ping", "-c", "1", "-W", "2", b.lanIp], { netns: a.ns.name })).toBe(
        true,
      );
      sleeper = b.ns.spawn("sleep", ["600"]);
      expect(alive(sleeper.pid)).toBe(true);
      expect(await listNamespaces()).toContain(`${lab.prefix}-a`);
    } finally {
      await lab.destroy();
      await lab.destroy();
    }
    expect(await listNamespaces()).not.toContain(lab.prefix);
    expect(alive(sleeper?.pid)).toBe(false);
  });

  it("fails loudly on a name clash and leaves the existing namespace alone", async () => {
    const name = `fnt${runSuffix()}-dup`;
    const first = await Netns.create(name);
    try {
      await expect(Netns.create(name)).rejects.toThrow(/ip netns add/);
      expect(await first.exec("ip", ["link", "show", "lo"])).toContain("UP");
    } finally {
      await first.destroy();
    }
    expect(await listNamespaces()).not.toContain(name);
  });
});
