import { createConnection } from "node:net";
import { FormationError } from "@/lib/errors";

export class QmpError extends FormationError<"QMP_FAILED"> {
  override readonly name = "QmpError";
  constructor(message: string, options: { cause?: unknown } = {}) {
    super("QMP_FAILED", message, options);
  }
}

/**
 * Runs one QMP command on QEMU's monitor socket (greeting → qmp_capabilities → command) and returns
 * its `return` value. Asynchronous events on the socket are skipped.
 */
export function qmpCommand(opts: {
  socketPath: string;
  command: string;
  args?: Record<string, unknown>;
  timeoutMs?: number;
}): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const sock = createConnection(opts.socketPath);
    let buf = "";
    let stage: "greeting" | "caps" | "command" = "greeting";
    const done = (err: Error | null, value?: unknown) => {
      clearTimeout(timer);
      sock.destroy();
      if (err) reject(err);
      else resolve(value);
    };
    const timer = setTimeout(
      () => done(new QmpError(`QMP ${opts.command} timed out on ${opts.socketPath}`)),
      opts.timeoutMs ?? 5000,
    );
    const send = (execute: string, args?: Record<string, unknown>) =>
      sock.write(`${JSON.stringify(args ? { execute, arguments: args } : { execute })}\n`);
    sock.setEncoding("utf8");
    sock.on("error", (err) =>
      done(new QmpError(`QMP connection to ${opts.socketPath} failed: ${err.message}`, { cause: err })),
    );
    sock.on("data", (chunk: string) => {
      buf += chunk;
      let nl = buf.indexOf("\n");
      while (nl >= 0) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        nl = buf.indexOf("\n");
        if (!line) continue;
        let msg: Record<string, unknown>;
        try {
          msg = JSON.parse(line) as Record<string, unknown>;
        } catch (err) {
          return done(new QmpError(`QMP sent invalid JSON: ${line.slice(0, 200)}`, { cause: err }));
        }
        if ("event" in msg) continue;
        if (stage === "greeting" && "QMP" in msg) {
          stage = "caps";
          send("qmp_capabilities");
        } else if ("error" in msg) {
          return done(
            new QmpError(
              `QMP ${stage === "caps" ? "qmp_capabilities" : opts.command} failed: ${JSON.stringify(msg.error)}`,
            ),
          );
        } else if (stage === "caps" && "return" in msg) {
          stage = "command";
          send(opts.command, opts.args);
        } else if (stage === "command" && "return" in msg) {
          return done(null, msg.return);
        }
      }
    });
  });
}
