import { describe, expect, it } from "vitest";
import { loadIngressConfig } from "./config";

describe("ingress config", () => {
  it("defaults: on, apps under localhost, 1 s connect timeout, 2 retries, no ACME", () => {
    expect(loadIngressConfig({})).toMatchObject({
      enabled: true,
      appsDomain: "localhost",
      publicPort: undefined,
      connectTimeoutMs: 1_000,
      lastConnectTimeoutMs: 10_000,
      suspectMs: 500,
      retries: 2,
      acme: null,
    });
  });

  it("normalises the apps domain and refuses bad values with the variable's name", () => {
    expect(loadIngressConfig({ FORMATION_APPS_DOMAIN: "Apps.Example.COM." }).appsDomain).toBe(
      "apps.example.com",
    );
    expect(() => loadIngressConfig({ FORMATION_APPS_DOMAIN: "not a domain" })).toThrow(
      /FORMATION_APPS_DOMAIN/,
    );
    expect(() => loadIngressConfig({ FORMATION_EDGE_RETRIES: "9" })).toThrow(/FORMATION_EDGE_RETRIES/);
    expect(loadIngressConfig({ FORMATION_INGRESS: "0" }).enabled).toBe(false);
  });
});
