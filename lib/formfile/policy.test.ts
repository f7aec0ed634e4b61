import { describe, expect, it } from "vitest";
import { parseFormfile } from "./parse";
import { checkPolicy, DEVNET_POLICY, ZNetworkPolicy } from "./policy";

const hashPassword = (pw: string): string => `h:${pw}`;

function parsed(text: string) {
  const result = parseFormfile(`USER username:dev passwd:pw\n${text}`, { hashPassword });
  if (!result.ok) throw new Error(result.errors[0]?.message);
  return result;
}

describe("checkPolicy", () => {
  it("accepts the devnet maximum and the defaults", () => {
    expect(checkPolicy(parsed("VCPU 2\nMEM 4096\nDISK 5"), DEVNET_POLICY)).toEqual([]);
    expect(checkPolicy(parsed(""), DEVNET_POLICY)).toEqual([]);
  });

  it("reports each exceeded limit at its line:column", () => {
    const diagnostics = checkPolicy(parsed("VCPU 4\nMEM 8192\n  DISK 10"), DEVNET_POLICY);
    expect(diagnostics.map((d) => `${d.line}:${d.column} ${d.message}`)).toEqual([
      "2:6 VCPU 4 exceeds the devnet limit of 1–2 cores",
      "3:5 MEM 8192 exceeds the devnet limit of 512–4096 MB",
      "4:8 DISK 10 exceeds the devnet limit of 5 GB",
    ]);
    expect(diagnostics[0]?.hint).toBe("set VCPU 2 or deploy to a network with higher limits");
  });

  it("works on a bare TFormfile (line 0) and with a custom policy, including GPUs and minimums", () => {
    const policy = ZNetworkPolicy.parse({
      name: "tiny",
      vcpu: { min: 2, max: 4 },
      memoryMb: { min: 512, max: 100000 },
      diskGb: { min: 5, max: 100 },
      maxGpus: 0,
    });
    const { formfile } = parsed("GPU a100:1");
    expect(checkPolicy(formfile, policy).map((d) => `${d.line}:${d.column} ${d.message}`)).toEqual([
      "0:0 VCPU 1 (the default) is below the tiny limit of 2–4 cores",
      "0:0 tiny does not offer GPUs",
    ]);
  });

  it("rejects malformed policies", () => {
    expect(ZNetworkPolicy.safeParse({ ...DEVNET_POLICY, vcpu: { min: 1 } }).success).toBe(false);
  });
});
