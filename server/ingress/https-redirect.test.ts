import { describe, expect, it } from "vitest";
import { httpsRedirect } from "./https-redirect";

const hasCertificate = (name: string) => name === "shop.example.test";
const base = { host: "shop.example.test", url: "/cart?id=1", httpsPort: 443, hasCertificate };

describe("httpsRedirect", () => {
  it("sends a host with a certificate to https, keeping path and query; no port for 443", () => {
    expect(httpsRedirect(base)).toBe("https://shop.example.test/cart?id=1");
    expect(httpsRedirect({ ...base, host: "SHOP.example.test:8080", httpsPort: 8443 })).toBe(
      "https://shop.example.test:8443/cart?id=1",
    );
    expect(httpsRedirect({ ...base, host: "shop.example.test.", url: undefined })).toBe(
      "https://shop.example.test/",
    );
  });

  it("serves plain HTTP without a TLS listener or without a certificate for the host", () => {
    expect(httpsRedirect({ ...base, httpsPort: undefined })).toBeNull();
    expect(httpsRedirect({ ...base, host: "other.example.test" })).toBeNull();
    expect(httpsRedirect({ ...base, host: undefined })).toBeNull();
  });

  it("never redirects ACME HTTP-01 answers, nor requests a TLS terminator forwarded as https", () => {
    expect(httpsRedirect({ ...base, url: "/.well-known/acme-challenge/tok_1" })).toBeNull();
    expect(httpsRedirect({ ...base, url: "/.well-known/formation-challenge/t" })).toBe(
      "https://shop.example.test/.well-known/formation-challenge/t",
    );
    expect(httpsRedirect({ ...base, forwardedProto: "https" })).toBeNull();
    expect(httpsRedirect({ ...base, forwardedProto: ["HTTPS, http"] })).toBeNull();
    expect(httpsRedirect({ ...base, forwardedProto: "http" })).toBe("https://shop.example.test/cart?id=1");
  });
});
