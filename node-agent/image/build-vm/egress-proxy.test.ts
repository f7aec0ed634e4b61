import { mkdtemp, readdir, rm } from "node:fs/promises";
import { createServer, request, type Server } from "node:http";
import { type AddressInfo, connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { EgressProxy, mirrorRules, parseEgressRules } from "./egress-proxy";

/** One request through the proxy's unix socket, as the build VM's apt or curl sends it. */
function viaProxy(
  socketPath: string,
  method: string,
  url: string,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { socketPath, method, path: url, headers: { host: URL.canParse(url) ? new URL(url).host : "x" } },
      (res) => {
        let body = "";
        res.setEncoding("utf8").on("data", (c: string) => {
          body += c;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on("error", reject);
    req.end();
  });
}

/** A CONNECT through the proxy: the status line it answers. */
function connectVia(socketPath: string, target: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(socketPath, () => s.write(`CONNECT ${target} HTTP/1.1\r\nhost: ${target}\r\n\r\n`));
    s.setEncoding("utf8").once("data", (d: string) => {
      resolve(d.split("\r\n")[0] ?? "");
      s.destroy();
    });
    s.on("error", reject);
  });
}

describe("build egress proxy", () => {
  let dir: string;
  let upstream: Server;
  let port: number;
  let hits: string[];
  let proxy: EgressProxy;
  let refused: string[];

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "fm-egress-"));
    hits = [];
    upstream = createServer((req, res) => {
      hits.push(`${req.method} ${req.url}`);
      res.end(`pkg ${req.url}`);
    });
    await new Promise<void>((r) => upstream.listen(0, "127.0.0.1", () => r()));
    port = (upstream.address() as AddressInfo).port;
    refused = [];
    proxy = new EgressProxy({
      socketPath: join(dir, "egress.sock"),
      allow: [{ host: "127.0.0.1", port }],
      debCacheDir: join(dir, "debs"),
      onRefused: (w) => refused.push(w),
    });
    await proxy.listen();
  });

  afterEach(async () => {
    await proxy.close();
    upstream.closeAllConnections();
    await new Promise<void>((r) => upstream.close(() => r()));
    await rm(dir, { recursive: true, force: true });
  });

  it("forwards GET to an allowed mirror and caches .deb files by URL", async () => {
    const sock = join(dir, "egress.sock");
    const url = `http://127.0.0.1:${port}/pool/a_1.0_amd64.deb`;
    expect(await viaProxy(sock, "GET", url)).toEqual({ status: 200, body: "pkg /pool/a_1.0_amd64.deb" });
    expect(await viaProxy(sock, "GET", `http://127.0.0.1:${port}/dists/InRelease`)).toMatchObject({
      status: 200,
    });
    // The cached copy is complete once the response ended; the second GET never reaches upstream.
    await expect
      .poll(async () => (await readdir(join(dir, "debs"))).filter((f) => f.endsWith(".deb")))
      .toHaveLength(1);
    expect(await viaProxy(sock, "GET", url)).toEqual({ status: 200, body: "pkg /pool/a_1.0_amd64.deb" });
    expect(hits).toEqual(["GET /pool/a_1.0_amd64.deb", "GET /dists/InRelease"]);
  });

  it("refuses every other destination, method and tunnel, and says so once per destination", async () => {
    const sock = join(dir, "egress.sock");
    // The host's own services (the console, the chain RPC) are just other ports on loopback.
    expect((await viaProxy(sock, "GET", "http://127.0.0.1:8545/")).status).toBe(403);
    expect((await viaProxy(sock, "GET", "http://127.0.0.1:8545/again")).status).toBe(403);
    expect((await viaProxy(sock, "GET", `http://localhost:${port}/`)).status).toBe(403);
    expect((await viaProxy(sock, "GET", "http://169.254.169.254/latest/meta-data/")).status).toBe(403);
    expect((await viaProxy(sock, "POST", `http://127.0.0.1:${port}/`)).status).toBe(405);
    expect((await viaProxy(sock, "GET", "/relative")).status).toBe(400);
    expect(await connectVia(sock, "10.0.0.1:22")).toBe("HTTP/1.1 403 Forbidden");
    expect(await connectVia(sock, `127.0.0.1:${port}`)).toBe("HTTP/1.1 200 Connection Established");
    expect(hits).toEqual([]);
    expect(refused).toEqual(["127.0.0.1:8545", `localhost:${port}`, "169.254.169.254:80", "10.0.0.1:22"]);
  });
});

describe("egress rules", () => {
  it("reads mirrors from apt sources, skipping comments, with scheme default ports", () => {
    const text = [
      "# deb http://commented.example/debian bookworm main",
      "deb http://deb.debian.org/debian bookworm main",
      "Types: deb",
      "URIs: https://security.debian.org/debian-security http://deb.debian.org/debian",
      "URIs: http://mirror.local:8080/debian",
    ].join("\n");
    expect(mirrorRules(text)).toEqual([
      { host: "deb.debian.org", port: 80 },
      { host: "security.debian.org", port: 443 },
      { host: "mirror.local", port: 8080 },
    ]);
  });

  it("parses FORMATION_BUILD_EGRESS and rejects what is not host[:port]", () => {
    expect(parseEgressRules("pypi.org:443, files.pythonhosted.org:443 example.org")).toEqual([
      { host: "pypi.org", port: 443 },
      { host: "files.pythonhosted.org", port: 443 },
      { host: "example.org", port: 80 },
    ]);
    expect(parseEgressRules("")).toEqual([]);
    expect(() => parseEgressRules("http://x.org")).toThrow(/not host\[:port\]/);
  });
});
