import { describe, expect, it } from "vitest";
import type { TAppErrorCode } from "../../lib/errors";
import { CliError } from "../errors";
import { domainError, parsePort, renderDomain, requireDomain, type TDomain } from "./domain";

const pending: TDomain = {
  domain: "shop.example.com",
  deploymentId: "d-0123456789abcdef0123",
  port: null,
  status: "pending",
  verifiedAt: null,
  lastError: null,
  proof: {
    dnsName: "_formation-challenge.shop.example.com",
    dnsValue: "formation-verify=abc123",
    httpUrl: "http://shop.example.com/.well-known/formation-challenge/abc123",
    httpBody: "abc123",
  },
  certificate: null,
  url: null,
};

/** A CliError as toCliError makes it from a console error (the console's sentence + a generic hint). */
function consoleError(appCode: TAppErrorCode, said: string): CliError {
  return new CliError("user", `${said} — generic hint`, { cause: new Error(said), appCode });
}

describe("form domain", () => {
  it("takes a domain name, not a URL or host:port", () => {
    expect(requireDomain(" Shop.Example.com ")).toBe("shop.example.com");
    expect(() => requireDomain("https://shop.example.com/")).toThrow(
      /not a domain name — pass the name only/,
    );
    expect(() => requireDomain("shop.example.com:8080")).toThrow(CliError);
    expect(parsePort(undefined)).toBeUndefined();
    expect(parsePort("8080")).toBe(8080);
    expect(() => parsePort("http")).toThrow(/--port must be a port number/);
  });

  it("says what to do per console error code, keeping the console's own sentence", () => {
    const conflict = domainError(
      consoleError("CONFLICT", "shop.example.com is already verified by another account"),
      { domain: "shop.example.com", verb: "add" },
    );
    expect(conflict).toBeInstanceOf(CliError);
    expect((conflict as CliError).message).toBe(
      "shop.example.com is already verified by another account — a domain belongs to the first account that verifies it — use a domain you control, or have the account that verified it run `form domain rm shop.example.com`",
    );
    expect((conflict as CliError).exitCode).toBe(1);
    expect((conflict as CliError).appCode).toBe("CONFLICT");
    const notYours = domainError(consoleError("NOT_FOUND", "No deployment d-1 of yours"), {
      domain: "shop.example.com",
      verb: "add",
    });
    expect((notYours as CliError).message).toContain("the deployment must be yours — pass --build-id");
    const noClaim = domainError(consoleError("NOT_FOUND", "No claim of shop.example.com by you"), {
      domain: "shop.example.com",
      verb: "verify",
    });
    expect((noClaim as CliError).message).toContain("form domain add shop.example.com --build-id");
    const unproven = domainError(consoleError("PRECONDITION_FAILED", "shop.example.com is not verified"), {
      domain: "shop.example.com",
      verb: "verify",
    });
    expect((unproven as CliError).message).toContain("then run `form domain verify shop.example.com` again");
    // Codes without a domain-specific hint keep the generic one; other errors pass through.
    const limited = consoleError("RATE_LIMITED", "slow down");
    expect(domainError(limited, { domain: "x.example.com", verb: "rm" })).toBe(limited);
    const plain = new Error("boom");
    expect(domainError(plain, { domain: "x.example.com", verb: "rm" })).toBe(plain);
  });

  it("lists a pending domain with both proofs and a verified one with its certificate and URL", () => {
    expect(renderDomain(pending)).toBe(
      [
        "shop.example.com  pending  deployment d-0123456789abcdef0123",
        "    prove you control it with either:",
        "      DNS   TXT record  _formation-challenge.shop.example.com",
        '                        value "formation-verify=abc123"',
        "      HTTP  http://shop.example.com/.well-known/formation-challenge/abc123",
        "            answered by the domain's current web server with the body: abc123",
        "    then run: form domain verify shop.example.com",
      ].join("\n"),
    );
    const verified: TDomain = {
      ...pending,
      port: 9090,
      status: "verified",
      verifiedAt: new Date("2026-12-01T00:00:00Z"),
      lastError: "certificate: rate limited",
      certificate: { notAfter: new Date("2027-03-01T00:00:00Z"), issuer: "CN=Pebble Intermediate CA" },
      url: "https://shop.example.com/",
    };
    expect(renderDomain(verified)).toBe(
      [
        "shop.example.com  verified  deployment d-0123456789abcdef0123 port 9090  certificate until 2027-03-01 (CN=Pebble Intermediate CA)  https://shop.example.com/",
        "    last error: certificate: rate limited",
      ].join("\n"),
    );
    expect(
      renderDomain({ ...verified, certificate: null, lastError: null, url: "http://shop.example.com/" }),
    ).toBe(
      "shop.example.com  verified  deployment d-0123456789abcdef0123 port 9090  no certificate yet  http://shop.example.com/",
    );
  });
});
