import { describe, expect, it } from "vitest";
import { formnetInterfaceName, IFNAME_MAX, instanceChainName } from "./naming";

describe("formnet names", () => {
  it("keeps short ids readable", () => {
    expect(formnetInterfaceName({ role: "node", id: "node1" })).toBe("fn-nnode1");
    expect(formnetInterfaceName({ role: "console", id: "main" })).toBe("fn-cmain");
  });

  it("stays within 15 chars and distinguishes long ids with a shared prefix", () => {
    const a = formnetInterfaceName({ role: "user", id: "0xAbCdEf0123456789aaaa" });
    const b = formnetInterfaceName({ role: "user", id: "0xAbCdEf0123456789bbbb" });
    expect(a.length).toBeLessThanOrEqual(IFNAME_MAX);
    expect(b.length).toBeLessThanOrEqual(IFNAME_MAX);
    expect(a).not.toBe(b);
    expect(a).toMatch(/^fn-u[a-z0-9]+$/);
  });

  it("distinguishes roles with the same id", () => {
    expect(formnetInterfaceName({ role: "node", id: "x" })).not.toBe(
      formnetInterfaceName({ role: "user", id: "x" }),
    );
  });

  it("derives iptables chain names from the address", () => {
    const chain = instanceChainName({ vmIp: "10.42.0.9", bridge: "fmbr1" });
    expect(chain).toMatch(/^FN-[0-9a-f]{6}-0a2a0009$/);
    expect(chain.length).toBeLessThanOrEqual(28);
    expect(instanceChainName({ vmIp: "10.42.0.9", bridge: "fmbr2" })).not.toBe(chain);
  });
});
