import { describe, expect, it } from "vitest";
import { appHostLabel, appId, appRouteKey, parseAppHost } from "./app-host";

const owner = "0xAbC0000000000000000000000000000000000001";

describe("app host names", () => {
  it("derive a stable app id from owner (any case) and NAME", () => {
    expect(appId({ owner, name: "web" })).toMatch(/^[0-9a-f]{8}$/);
    expect(appId({ owner: owner.toLowerCase(), name: "web" })).toBe(appId({ owner, name: "web" }));
    expect(appId({ owner, name: "web2" })).not.toBe(appId({ owner, name: "web" }));
    expect(appId({ owner: "0x0000000000000000000000000000000000000002", name: "web" })).not.toBe(
      appId({ owner, name: "web" }),
    );
  });

  it("round-trip through parseAppHost, with and without a port", () => {
    const key = appRouteKey({ owner, name: "hello-server" });
    expect(key).toMatch(/^hello-server-[0-9a-f]{8}$/);
    expect(parseAppHost(`${key}.localhost:3000`, "localhost")).toEqual({ routeKey: key, port: undefined });
    const label = appHostLabel({ owner, name: "hello-server", port: 9090 });
    expect(parseAppHost(`${label.toUpperCase()}.Apps.Example.COM.`, "apps.example.com")).toEqual({
      routeKey: key,
      port: 9090,
    });
  });

  it("fit a DNS label for the longest NAME", () => {
    const name = `a${"-b".repeat(31)}`;
    const label = appHostLabel({ owner, name, port: 65_535 });
    expect(label.length).toBeLessThanOrEqual(63);
    expect(parseAppHost(`${label}.localhost`, "localhost")?.routeKey).toBe(appRouteKey({ owner, name }));
    expect(label).not.toMatch(/--/);
  });

  it("names that look like ids or ports still parse to their own route", () => {
    for (const name of ["x-deadbeef", "x-deadbeef-p80", "8080", "a-12345678-p1"]) {
      const key = appRouteKey({ owner, name });
      expect(parseAppHost(`${key}.localhost`, "localhost")?.routeKey).toBe(key);
      expect(parseAppHost(`${key}-p81.localhost`, "localhost")).toEqual({ routeKey: key, port: 81 });
    }
  });

  it("refuse other hosts", () => {
    for (const host of [
      "localhost:3000",
      "hello.localhost",
      "hello-server-1234567.localhost",
      "hello-server-12345678.example.com",
      "a.hello-server-12345678.localhost",
      "hello-server-12345678-p0.localhost",
      "hello-server-12345678-p70000.localhost",
      "[::1]:3000",
      undefined,
    ]) {
      expect(parseAppHost(host, "localhost"), String(host)).toBeNull();
    }
  });
});
