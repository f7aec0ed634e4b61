import { describe, expect, it } from "vitest";
import { IDENTITY_HOOK_SCRIPT, identityMessage, octalEscapes, parseHookReply } from "./identity-hook";

/** What the hook's printf makes of an octal-escaped value. */
const printfOf = (s: string) =>
  Buffer.from((s.match(/\\[0-7]{3}/g) ?? []).map((e) => Number.parseInt(e.slice(1), 8)));

describe("identity channel messages", () => {
  it("writes key=value lines and end; keys and seed as octal escapes, seed first", () => {
    const msg = identityMessage({
      now: 1_700_000_000.7,
      ip: "10.42.0.9",
      gw: "169.254.42.1",
      mac: "52:54:00:aa:bb:cc",
      hostname: "web-1",
      machineId: "0123456789abcdef0123456789abcdef",
      seed: Buffer.from([1, 2, 3]),
      hostKey: { privateKey: "-----BEGIN x-----\nabc\n", publicKey: "ssh-ed25519 AAAA" },
      rootAuthorizedKeys: ["ssh-ed25519 K1", "ssh-ed25519 K2"],
    });
    const lines = msg.trimEnd().split("\n");
    expect(lines.at(-1)).toBe("end");
    expect(lines).toContain("now=1700000000");
    expect(lines).toContain("ip=10.42.0.9");
    expect(lines[0]).toBe("seed=\\001\\002\\003");
    const hostkey = lines.find((l) => l.startsWith("hostkey="))?.slice(8) ?? "";
    expect(printfOf(hostkey).toString()).toBe("-----BEGIN x-----\nabc\n");
    const keys = lines.find((l) => l.startsWith("root_keys="))?.slice(10) ?? "";
    expect(printfOf(keys).toString()).toBe("ssh-ed25519 K1\nssh-ed25519 K2");
    // Each line is one token: nothing the hook reads can span lines or carry shell syntax.
    for (const line of lines) expect(line).toMatch(/^[a-z_]+=([A-Za-z0-9:._-]+|(\\[0-7]{3})+)$|^end$/);
    expect(octalEscapes(Buffer.from([0, 255]))).toBe("\\000\\377");
  });

  it("a resume sends only the clock", () => {
    expect(identityMessage({ now: 5 })).toBe("now=5\nend\n");
  });

  it("refuses values that are not plain tokens", () => {
    expect(() => identityMessage({ hostname: "a b" })).toThrow(/hostname/);
    expect(() => identityMessage({ ip: "1.2.3.4\nend" })).toThrow(/ip/);
    expect(() => identityMessage({ mac: "$(reboot)" })).toThrow(/mac/);
  });

  it("parses the hook's answers and skips other lines", () => {
    expect(parseHookReply("ready")).toBeNull();
    expect(parseHookReply("ok machine-id=abc reseeded=yes")).toEqual({
      ok: true,
      machineId: "abc",
      reseeded: true,
    });
    expect(parseHookReply("ok machine-id=abc reseeded=no")).toEqual({
      ok: true,
      machineId: "abc",
      reseeded: false,
    });
    expect(parseHookReply("fail net hostkey")).toEqual({ ok: false, error: "net hostkey" });
  });

  it("the hook reads values as data (no eval) and answers on its port", () => {
    expect(IDENTITY_HOOK_SCRIPT).not.toMatch(/\beval\b/);
    expect(IDENTITY_HOOK_SCRIPT).toContain("echo ready >&3");
    expect(IDENTITY_HOOK_SCRIPT).toContain('echo "ok machine-id=');
  });
});
