import { type ChildProcess, spawn } from "node:child_process";
import { randomInt } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { succeeds } from "../formnet/command";
import { MultinodeNetwork } from "./multinode-network";
import { runSuffix } from "./netns";

// The multinode network's host reboot against the kernel (root): namespaces, veths, NAT routers.

let network: MultinodeNetwork | undefined;
let holder: ChildProcess | undefined;

afterEach(async () => {
  holder?.kill("SIGKILL");
  holder = undefined;
  await network?.down();
  network = undefined;
});

describe("MultinodeNetwork.rebootHost", () => {
  it("wires a fresh host even while the crashed host's namespace (and its end of the LAN veth) lingers", async () => {
    network = await MultinodeNetwork.up({
      nodes: 1,
      prefix: `fmr${runSuffix()}`,
      underlayCidr: `198.18.${1 + randomInt(254)}.0/24`,
    });
    const host = network.host(1);
    // A process outside the namespace holding it open: the namespace, and the veth end in it,
    // outlive `ip netns del` — as they do on a busy machine until the killed processes are reaped.
    holder = spawn("sh", ["-c", `exec 3</run/netns/${host.nodeNetns}; exec sleep 600`], { stdio: "ignore" });
    await new Promise((resolve) => holder?.once("spawn", resolve));

    await network.rebootHost(1);

    expect(
      await succeeds("busybox", ["ping", "-c", "1", "-W", "2", host.routerLanIp], { netns: host.nodeNetns }),
    ).toBe(true);
  });
});
