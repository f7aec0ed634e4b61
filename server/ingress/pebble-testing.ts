import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { request as httpsRequest } from "node:https";
import { createServer } from "node:net";
import { join } from "node:path";
import type { TLSSocket } from "node:tls";
import { inheritedEnv } from "@/core/env";
import { createLogger } from "@/core/log";
import { eventually } from "@/server/testing/fake-agent";
import { readText } from "./testing";

/**
 * A real ACME server for tests: Pebble (Debian's `pebble` package) with pebble-challtestsrv as its
 * DNS, which answers 127.0.0.1 for every name. Pebble validates HTTP-01 on `httpPort` of
 * 127.0.0.1 — the edge's HTTP listener under test.
 */

const PEBBLE = "/usr/bin/pebble";
const CHALLTESTSRV = "/usr/bin/pebble-challtestsrv";
/** Pebble's HTTPS certificate and key (for 127.0.0.1/localhost) and the CA file clients trust. */
export const PEBBLE_TESTDATA = join(__dirname, "testdata");
export const PEBBLE_CA_FILE = join(PEBBLE_TESTDATA, "pebble-localhost.crt");
const log = createLogger("test");

/** Whether this machine has Pebble (tests that need it are skipped elsewhere). */
export const hasPebble = existsSync(PEBBLE) && existsSync(CHALLTESTSRV);

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  await new Promise((r) => server.close(r));
  return port;
}

function start(children: ChildProcess[], cmd: string, args: string[], env: Record<string, string> = {}) {
  const child = spawn(cmd, args, { env: inheritedEnv(env), stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  const keep = (c: Buffer) => {
    output = (output + c.toString()).slice(-4000);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  child.on("exit", (code) => {
    if (code !== null && code !== 0) log.warn({ cmd, code, output }, "ACME test helper exited");
  });
  children.push(child);
}

export type TPebble = {
  /** The ACME directory URL. */
  directoryUrl: string;
  /** host:port of the DNS server (every name → 127.0.0.1, no TXT records). */
  dnsServer: string;
  stop(): void;
};

/** Starts pebble-challtestsrv and Pebble (config in `dir`) and waits for Pebble's directory. */
export async function startPebble(opts: { dir: string; httpPort: number }): Promise<TPebble> {
  const children: ChildProcess[] = [];
  const [acmePort, managementPort, dnsPort, dnsManagementPort, tlsPort] = await Promise.all([
    freePort(),
    freePort(),
    freePort(),
    freePort(),
    freePort(),
  ]);
  start(children, CHALLTESTSRV, [
    "-dns01",
    `127.0.0.1:${dnsPort}`,
    "-management",
    `127.0.0.1:${dnsManagementPort}`,
    "-http01",
    "",
    "-https01",
    "",
    "-tlsalpn01",
    "",
    "-defaultIPv4",
    "127.0.0.1",
    "-defaultIPv6",
    "",
  ]);
  const config = join(opts.dir, "pebble.json");
  await writeFile(
    config,
    JSON.stringify({
      pebble: {
        listenAddress: `127.0.0.1:${acmePort}`,
        managementListenAddress: `127.0.0.1:${managementPort}`,
        certificate: PEBBLE_CA_FILE,
        privateKey: join(PEBBLE_TESTDATA, "pebble-localhost.key"),
        httpPort: opts.httpPort,
        tlsPort,
        ocspResponderURL: "",
        externalAccountBindingRequired: false,
      },
    }),
  );
  start(children, PEBBLE, ["-config", config, "-dnsserver", `127.0.0.1:${dnsPort}`], {
    PEBBLE_VA_NOSLEEP: "1",
    PEBBLE_WFE_NONCEREJECT: "0",
  });
  const stop = () => {
    for (const c of children) c.kill("SIGTERM");
  };
  try {
    await eventually(
      async () =>
        new Promise<true | undefined>((resolve) => {
          const req = httpsRequest(
            { host: "127.0.0.1", port: acmePort, path: "/dir", rejectUnauthorized: false },
            (res) => {
              res.resume();
              resolve(res.statusCode === 200 ? true : undefined);
            },
          );
          req.on("error", () => resolve(undefined));
          req.end();
        }),
      { what: "Pebble's directory", timeoutMs: 20_000, intervalMs: 100 },
    );
  } catch (error) {
    stop();
    throw error;
  }
  return { directoryUrl: `https://127.0.0.1:${acmePort}/dir`, dnsServer: `127.0.0.1:${dnsPort}`, stop };
}

/** GET / over TLS with `servername` as SNI and Host; the answer and the certificate served. */
export function getHttps(
  port: number,
  servername: string,
): Promise<{ status: number; body: string; issuer: string; names: string; serial: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host: "127.0.0.1",
        port,
        path: "/",
        servername,
        headers: { host: servername },
        rejectUnauthorized: false,
        agent: false,
      },
      (res) => {
        const cert = (res.socket as TLSSocket).getPeerCertificate();
        readText(res).then(
          (body) =>
            resolve({
              status: res.statusCode ?? 0,
              body,
              issuer: [cert.issuer.CN ?? ""].flat().join(", "),
              names: cert.subjectaltname ?? "",
              serial: cert.serialNumber,
            }),
          reject,
        );
      },
    );
    req.on("error", reject);
    req.end();
  });
}
