import { describe, expect, it } from "vitest";
import { formfileUser, type TFormfile } from "./formfile/canonical";
import { computeBuildId, computeInstanceId, ZContentId } from "./ids";

const OWNER = "0x8ba1f109551bD432803012645Ac136ddd64DBA72";
const NODE = "0x00000000000000000000000000000000000000aa";
const DIGEST = `sha256:${"ab".repeat(32)}`;
const FORMFILE: TFormfile = {
  name: "hello-server",
  description: null,
  resources: { vcpu: 2, memoryMb: 2048, diskGb: 5, gpu: null },
  users: [formfileUser({ username: "webdev", passwdHash: "$6$salt$hash", sudo: true })],
  workdir: "/app",
  entrypoint: ["python3", "server.py"],
  expose: [8080],
  env: [],
  steps: [{ kind: "copy", src: "app", dst: "/app", line: 7 }],
};

describe("computeBuildId", () => {
  const id = computeBuildId({ owner: OWNER, formfile: FORMFILE, contextDigest: DIGEST });

  it("is a keccak256 hex id, stable across key order, address case and digest spelling", () => {
    expect(ZContentId.parse(id)).toBe(id);
    const reordered = Object.fromEntries(Object.entries(FORMFILE).reverse()) as TFormfile;
    expect(
      computeBuildId({ owner: OWNER.toLowerCase(), formfile: reordered, contextDigest: "AB".repeat(32) }),
    ).toBe(id);
  });

  it("changes when any input changes", () => {
    const others = [
      computeBuildId({ owner: NODE, formfile: FORMFILE, contextDigest: DIGEST }),
      computeBuildId({ owner: OWNER, formfile: FORMFILE, contextDigest: `sha256:${"ac".repeat(32)}` }),
      computeBuildId({
        owner: OWNER,
        formfile: { ...FORMFILE, resources: { ...FORMFILE.resources, vcpu: 1 } },
        contextDigest: DIGEST,
      }),
      computeBuildId({ owner: OWNER, formfile: { ...FORMFILE, expose: [8081] }, contextDigest: DIGEST }),
    ];
    expect(new Set([id, ...others]).size).toBe(5);
  });

  it("rejects malformed inputs", () => {
    expect(() => computeBuildId({ owner: "0x1234", formfile: FORMFILE, contextDigest: DIGEST })).toThrow();
    expect(() => computeBuildId({ owner: OWNER, formfile: FORMFILE, contextDigest: "sha256:zz" })).toThrow();
  });
});

describe("computeInstanceId", () => {
  const buildId = computeBuildId({ owner: OWNER, formfile: FORMFILE, contextDigest: DIGEST });

  it("is deterministic and distinct per node and replica, and never equals the build id", () => {
    const a = computeInstanceId({ buildId, nodeAddress: NODE, replicaIndex: 0 });
    expect(
      computeInstanceId({ buildId, nodeAddress: NODE.toUpperCase().replace("0X", "0x"), replicaIndex: 0 }),
    ).toBe(a);
    const b = computeInstanceId({ buildId, nodeAddress: NODE, replicaIndex: 1 });
    const c = computeInstanceId({ buildId, nodeAddress: OWNER, replicaIndex: 0 });
    expect(new Set([buildId, a, b, c]).size).toBe(4);
  });

  it("rejects a negative replica index or a malformed build id", () => {
    expect(() => computeInstanceId({ buildId, nodeAddress: NODE, replicaIndex: -1 })).toThrow();
    expect(() => computeInstanceId({ buildId: "0x12", nodeAddress: NODE, replicaIndex: 0 })).toThrow();
  });
});
