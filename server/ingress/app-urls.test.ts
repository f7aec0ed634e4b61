import { describe, expect, it } from "vitest";
import { appRouteKey } from "@/lib/ingress/app-host";
import { AppUrls } from "./app-urls";

const app = { owner: "0x00000000000000000000000000000000000000aa", name: "web", exposedPorts: [8080, 9090] };

describe("app URLs", () => {
  it("none until the ingress configures them, or for an app that exposes nothing", () => {
    const urls = new AppUrls();
    expect(urls.urlsFor(app)).toEqual([]);
    urls.configure(() => null);
    expect(urls.urlsFor(app)).toEqual([]);
    urls.configure(() => ({ scheme: "http", domain: "localhost", port: 3000 }));
    expect(urls.urlsFor({ ...app, exposedPorts: [] })).toEqual([]);
  });

  it("one per EXPOSEd port, the first without a port label; default ports are left out", () => {
    const key = appRouteKey(app);
    const urls = new AppUrls();
    urls.configure(() => ({ scheme: "http", domain: "localhost", port: 3000 }));
    expect(urls.urlsFor(app)).toEqual([
      { port: 8080, url: `http://${key}.localhost:3000/` },
      { port: 9090, url: `http://${key}-p9090.localhost:3000/` },
    ]);
    urls.configure(() => ({ scheme: "https", domain: "apps.example.com", port: 443 }));
    expect(urls.urlsFor(app)[0]?.url).toBe(`https://${key}.apps.example.com/`);
  });
});
