import { describe, expect, it } from "vitest";
import { authorizeWrite, StaticAuthorizer, type TAuthorizeInput } from "./authorize";

const CONSOLE = "0x00000000000000000000000000000000000000c0";
const NODE_A = "0x00000000000000000000000000000000000000a1";
const NODE_B = "0x00000000000000000000000000000000000000b2";
const OP_A = "0x000000000000000000000000000000000000a0a0";
const OP_B = "0x000000000000000000000000000000000000b0b0";
const authorizer = new StaticAuthorizer({
  console: CONSOLE,
  nodes: [NODE_A, NODE_B],
  operators: [OP_A, OP_B],
});

function check(signer: string, key: string, fields: string[], host?: string) {
  const input: TAuthorizeInput = {
    key,
    signer,
    roles: authorizer.rolesOf(signer),
    touched: new Set(fields),
    hostOf: () => host,
  };
  const result = authorizeWrite(input);
  return result.ok ? "ok" : result.code;
}

describe("authorizeWrite", () => {
  it.each([
    // Nodes write their own record, never another node's; the console only assigns ownership.
    [NODE_A, `nodes/${NODE_A}`, ["heartbeat", "metrics", "capacity"], undefined, "ok"],
    [NODE_A, `nodes/${NODE_B}`, ["heartbeat"], undefined, "forbidden"],
    [NODE_A, `nodes/${NODE_A}`, ["operator"], undefined, "forbidden"],
    [CONSOLE, `nodes/${NODE_A}`, ["operator", "admitted"], undefined, "ok"],
    [CONSOLE, `nodes/${NODE_A}`, ["heartbeat"], undefined, "forbidden"],
    // Instances: placement is the console's; the host reports status and metrics only.
    [CONSOLE, "instances/i1", ["node", "build", "owner", "formnetIp", "status"], NODE_A, "ok"],
    [NODE_A, "instances/i1", ["status", "metrics"], NODE_A, "ok"],
    [NODE_A, "instances/i1", ["status", "node"], NODE_A, "forbidden"],
    [NODE_B, "instances/i1", ["status"], NODE_A, "forbidden"],
    [NODE_A, "instances/i1", ["status"], undefined, "forbidden"],
    // Formnet allocations and DNS are the console's alone.
    [CONSOLE, "peers/p1", ["ip", "publicKey"], undefined, "ok"],
    [CONSOLE, "cidrs/10.42.0.0_16", ["cidr"], undefined, "ok"],
    [NODE_A, "peers/p1", ["endpoint"], undefined, "forbidden"],
    [NODE_A, "cidrs/10.42.0.0_16", ["cidr"], undefined, "forbidden"],
    [OP_A, "dns/a", ["value"], undefined, "forbidden"],
    // Operators edit their own profile only; ownership stays with the console.
    [OP_A, `accounts/${OP_A}`, ["displayName", "contact"], undefined, "ok"],
    [OP_A, `accounts/${OP_B}`, ["displayName"], undefined, "forbidden"],
    [OP_A, `accounts/${OP_A}`, ["owns"], undefined, "forbidden"],
    [OP_A, `nodes/${NODE_A}`, ["operator"], undefined, "forbidden"],
    [CONSOLE, `accounts/${OP_A}`, ["owns"], undefined, "ok"],
    // Unknown signers, bad keys and empty changes.
    ["0x00000000000000000000000000000000000000ff", "dns/a", ["value"], undefined, "unknown-signer"],
    [CONSOLE, "widgets/a", ["x"], undefined, "bad-key"],
    [CONSOLE, "dns/a/b", ["x"], undefined, "bad-key"],
    [CONSOLE, "dns/a", [], undefined, "empty-change"],
  ])("%s writing %s %j (host %s) → %s", (signer, key, fields, host, expected) => {
    expect(check(signer, key, fields, host)).toBe(expected);
  });

  it("reads the host only when a node writes an instance", () => {
    let reads = 0;
    const hostOf = () => {
      reads += 1;
      return NODE_A;
    };
    authorizeWrite({
      key: "instances/i",
      signer: CONSOLE,
      roles: ["console"],
      touched: new Set(["status"]),
      hostOf,
    });
    expect(reads).toBe(0);
    authorizeWrite({
      key: "instances/i",
      signer: NODE_A,
      roles: ["node"],
      touched: new Set(["status"]),
      hostOf,
    });
    expect(reads).toBe(1);
  });

  it("admits signers case-insensitively and adds roles", () => {
    const a = new StaticAuthorizer({});
    expect(a.rolesOf(NODE_A)).toEqual([]);
    a.add(NODE_A.toUpperCase().replace("0X", "0x"), "node");
    a.add(NODE_A, "operator");
    expect(a.rolesOf(NODE_A)).toEqual(["node", "operator"]);
  });
});
