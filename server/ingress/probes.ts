import { request } from "node:http";
import { connectWithin, TcpConnectTimeoutError } from "@/core/net/tcp-connect";

export type TProbeResult = { ok: true; ms: number } | { ok: false; ms: number; reason: string };

export type TProbeTarget = {
  ip: string;
  port: number;
  timeoutMs: number;
  /** Source address (the console's formnet address when it is a member: its routes need it). */
  localAddress?: string | undefined;
};

function errorText(error: unknown): string {
  if (error && typeof error === "object" && "code" in error && typeof error.code === "string")
    return error.code;
  return error instanceof Error ? error.message : String(error);
}

type TConnectOutcome =
  | { kind: "connected"; ms: number }
  | { kind: "timeout"; ms: number }
  | { kind: "error"; code: string; ms: number };

/** One TCP connect to `ip:port`: connected, an error (refused, unreachable …) or no answer in time. */
async function connectOnce(t: TProbeTarget): Promise<TConnectOutcome> {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  try {
    (
      await connectWithin({ host: t.ip, port: t.port, timeoutMs: t.timeoutMs, localAddress: t.localAddress })
    ).destroy();
    return { kind: "connected", ms: elapsed() };
  } catch (error) {
    if (error instanceof TcpConnectTimeoutError) return { kind: "timeout", ms: elapsed() };
    return { kind: "error", code: errorText(error), ms: elapsed() };
  }
}

function probeResult(t: TProbeTarget, o: TConnectOutcome): TProbeResult {
  if (o.kind === "connected") return { ok: true, ms: o.ms };
  if (o.kind === "timeout")
    return { ok: false, ms: o.ms, reason: `no TCP connection to :${t.port} within ${t.timeoutMs} ms` };
  return { ok: false, ms: o.ms, reason: `TCP connect to :${t.port} failed: ${o.code}` };
}

/** A TCP connect to `ip:port` within the timeout. */
export async function tcpProbe(t: TProbeTarget): Promise<TProbeResult> {
  return probeResult(t, await connectOnce(t));
}

/** `GET path` on `ip:port` that must answer 2xx or 3xx within the timeout (body drained, 64 KiB max). */
export function httpProbe(t: TProbeTarget & { path: string; host?: string }): Promise<TProbeResult> {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  return new Promise((resolve) => {
    let settled = false;
    const done = (result: TProbeResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      resolve(result);
    };
    const req = request({
      host: t.ip,
      port: t.port,
      path: t.path,
      method: "GET",
      agent: false,
      headers: {
        host: t.host ?? `${t.ip}:${t.port}`,
        "user-agent": "formation-health/1",
        connection: "close",
      },
      ...(t.localAddress ? { localAddress: t.localAddress } : {}),
    });
    const timer = setTimeout(
      () =>
        done({
          ok: false,
          ms: elapsed(),
          reason: `GET :${t.port}${t.path} got no answer within ${t.timeoutMs} ms`,
        }),
      t.timeoutMs,
    );
    req.once("response", (res) => {
      const status = res.statusCode ?? 0;
      let read = 0;
      res.on("data", (chunk: Buffer) => {
        read += chunk.length;
        if (read > 64 * 1024) res.destroy();
      });
      const verdict = (): TProbeResult =>
        status >= 200 && status < 400
          ? { ok: true, ms: elapsed() }
          : { ok: false, ms: elapsed(), reason: `GET :${t.port}${t.path} answered ${status}` };
      res.once("end", () => done(verdict()));
      res.once("close", () => done(verdict()));
      res.once("error", () => done(verdict()));
    });
    req.once("error", (error) =>
      done({ ok: false, ms: elapsed(), reason: `GET :${t.port}${t.path} failed: ${errorText(error)}` }),
    );
    req.end();
  });
}

/** Port every Formation guest's sshd listens on: its kernel answers there even when the app is swamped. */
export const GUEST_SSH_PORT = 22;

/**
 * Is the replica there? A TCP connect to its app port; when that gets no answer in half the time
 * (a swamped app's full accept queue drops SYNs just as a dead host does), a connect to `hostPort`
 * in the other half tells the two apart: any answer there, even a refusal, means the guest's kernel
 * is alive, so the replica counts as reachable (busy). A refused or unreachable app port fails.
 * (The second connect costs the guest an sshd fork: it is made only when the first is in doubt.)
 */
export async function replicaProbe(t: TProbeTarget & { hostPort: number }): Promise<TProbeResult> {
  const half = Math.max(1, Math.floor(t.timeoutMs / 2));
  let kernel: Promise<TConnectOutcome> | null = null;
  const doubt = setTimeout(() => {
    kernel = connectOnce({ ...t, port: t.hostPort, timeoutMs: t.timeoutMs - half });
  }, half);
  const app = await connectOnce(t);
  clearTimeout(doubt);
  if (app.kind !== "timeout") return probeResult(t, app);
  const host = await (kernel ?? connectOnce({ ...t, port: t.hostPort, timeoutMs: t.timeoutMs - half }));
  const answered = host.kind === "connected" || (host.kind === "error" && host.code === "ECONNREFUSED");
  return answered ? { ok: true, ms: app.ms } : probeResult(t, app);
}
