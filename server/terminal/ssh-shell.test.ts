import { describe, expect, it } from "vitest";
import { classifySshFailure } from "./ssh-shell";

describe("classifySshFailure", () => {
  it.each([
    ["webdev@10.42.0.5: Permission denied (publickey).", "auth-refused"],
    ["ssh: connect to host 10.42.0.5 port 22: Connection refused", "formnet-unreachable"],
    ["ssh: connect to host 10.42.0.5 port 22: No route to host", "formnet-unreachable"],
    ["ssh: connect to host 10.42.0.5 port 22: Connection timed out", "formnet-unreachable"],
    ["kex_exchange_identification: read: Connection reset by peer", "formnet-unreachable"],
    [
      "@ WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED! @\nHost key verification failed.",
      "host-key-changed",
    ],
    ["", "internal"],
  ])("%s → %s", (text, reason) => {
    expect(classifySshFailure(text).reason).toBe(reason);
  });
});
