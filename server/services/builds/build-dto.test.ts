import { describe, expect, it } from "vitest";
import { userFacingReason } from "./build-dto";

describe("userFacingReason", () => {
  it("names the node's build-context paths as the user wrote them", () => {
    const id = "c".repeat(64);
    expect(
      userFacingReason(`cp: cannot stat '/var/lib/formation/agent/builds/${id}/context/app': No such file`),
    ).toBe("cp: cannot stat './app': No such file");
    expect(userFacingReason(`COPY failed in /data/builds/${id}/context`)).toBe("COPY failed in ./");
    expect(userFacingReason("RUN false exited 1")).toBe("RUN false exited 1");
  });
});
