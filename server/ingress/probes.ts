import { request } from "node:http";
import { connect } from "node:net";

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

/** A TCP connect to `ip:port` within the timeout. */
export function tcpProbe(t: TProbeTarget): Promise<TProbeResult> {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  return new Promise((resolve) => {
    const socket = connect({
      host: t.ip,
      port: t.port,
      ...(t.localAddress ? { localAddress: t.localAddress } : {}),
    });
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({
        ok: false,
        ms: elapsed(),
        reason: `no TCP connection to :${t.port} within ${t.timeoutMs} ms`,
      });
    }, t.timeoutMs);
    socket.once("connect", () => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ ok: true, ms: elapsed() });
    });
    socket.once("error", (error) => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ ok: false, ms: elapsed(), reason: `TCP connect to :${t.port} failed: ${errorText(error)}` });
    });
  });
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
