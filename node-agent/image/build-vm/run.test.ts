import { describe, expect, it } from "vitest";
import { CommandError } from "../../host/exec";
import { buildVmExit } from "./run";

describe("buildVmExit", () => {
  it("says a killed QEMU was killed, without the wrapper's whole command line", () => {
    const killed = new CommandError(
      ["unshare", "--net", "--", "sh", "-c", "…", "qemu-system-x86_64"],
      null,
      "SIGKILL",
      "",
    );
    expect(buildVmExit(killed)).toBe("its QEMU was killed by SIGKILL");
  });

  it("keeps the last lines QEMU printed when it exited by itself", () => {
    const exited = new CommandError(["qemu-system-x86_64"], 1, null, "a\nb\nqemu: could not open disk");
    expect(buildVmExit(exited)).toBe("its QEMU exited 1: a | b | qemu: could not open disk");
  });
});
