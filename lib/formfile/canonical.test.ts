import { describe, expect, it } from "vitest";
import { ZEnvScope } from "./canonical";

describe("ZEnvScope", () => {
  it("accepts the three scope forms and rejects others", () => {
    expect(ZEnvScope.safeParse("system").success).toBe(true);
    expect(ZEnvScope.safeParse("user:webdev").success).toBe(true);
    expect(ZEnvScope.safeParse("service:nginx").success).toBe(true);
    expect(ZEnvScope.safeParse("global").success).toBe(false);
    expect(ZEnvScope.safeParse("user:").success).toBe(false);
  });
});
