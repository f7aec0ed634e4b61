import { type ChildProcess, spawn } from "node:child_process";
import { createSocket, type Socket } from "node:dgram";
import { keyBytes } from "@/lib/protocol/relay";

/**
 * The UDP side of the formnet relay: one local socket ("shim") per relayed peer, next to the
 * WireGuard interface. WireGuard's endpoint for that peer is the shim; what WireGuard sends there
 * goes up the relay, and what the relay brings from the peer is sent to WireGuard from the shim,
 * so WireGuard keeps the shim as the peer's endpoint (roaming) until a direct path replaces it.
 */
export interface TShimPort {
  /** `127.0.0.1:<port>`: what WireGuard's peer endpoint is set to while the peer is relayed. */
  readonly endpoint: string;
  /** Delivers a datagram from the peer to the local WireGuard. */
  deliver(payload: Uint8Array): void;
  close(): void;
}

export interface TShimHost {
  /** Opens the shim of `peerKey`; `up` receives what WireGuard sends to that peer. */
  open(peerKey: string, up: (payload: Uint8Array) => void): Promise<TShimPort>;
  close(): Promise<void>;
}

/** Shims in this process (it shares the WireGuard interface's network namespace). */
export function localShimHost(wireguardPort: number): TShimHost {
  const sockets = new Set<Socket>();
  return {
    async open(_peerKey, up) {
      const socket = createSocket("udp4");
      sockets.add(socket);
      socket.on("message", (msg, rinfo) => {
        // Only the local WireGuard may send through a shim.
        if (rinfo.address === "127.0.0.1" && rinfo.port === wireguardPort) up(msg);
      });
      await new Promise<void>((resolve, reject) => {
        socket.once("error", reject);
        socket.bind(0, "127.0.0.1", () => {
          socket.off("error", reject);
          resolve();
        });
      });
      return {
        endpoint: `127.0.0.1:${socket.address().port}`,
        deliver: (payload) => socket.send(payload, wireguardPort, "127.0.0.1"),
        close: () => {
          sockets.delete(socket);
          socket.close();
        },
      };
    },
    async close() {
      for (const socket of sockets) socket.close();
      sockets.clear();
    },
  };
}

// Frames of the shim child's stdio (length-prefixed): parent → child OPEN(key) and DOWN(key, data);
// child → parent OPENED(key, port) and UP(key, data).
const OPEN = 1;
const OPENED = 2;
const UP = 3;
const DOWN = 4;

function frame(type: number, key: Uint8Array, rest: Uint8Array): Buffer {
  const out = Buffer.alloc(4 + 1 + 32 + rest.length);
  out.writeUInt32BE(1 + 32 + rest.length, 0);
  out[4] = type;
  out.set(key, 5);
  out.set(rest, 37);
  return out;
}

/** Splits a byte stream into frames `[type][32-byte key][rest]`. */
function frameReader(onFrame: (type: number, key: string, rest: Buffer) => void): (chunk: Buffer) => void {
  let buffer = Buffer.alloc(0);
  return (chunk) => {
    buffer = Buffer.concat([buffer, chunk]);
    while (buffer.length >= 4) {
      const length = buffer.readUInt32BE(0);
      if (buffer.length < 4 + length) return;
      const body = buffer.subarray(4, 4 + length);
      buffer = buffer.subarray(4 + length);
      onFrame(body[0] ?? 0, body.subarray(1, 33).toString("base64"), Buffer.from(body.subarray(33)));
    }
  };
}

/**
 * Shims in another network namespace (a laptop's tunnel there): a small child process started in
 * the namespace (`command`, e.g. `ip netns exec NS node <cli> manage formnet-relay-shim`) holds the
 * sockets and speaks the framed protocol above on its stdio.
 */
export function childShimHost(command: [string, string[]]): TShimHost {
  let child: ChildProcess | null = null;
  // Every open of a key waiting for the child's answer (a retried open waits beside the first).
  const pending = new Map<string, Set<(port: number) => void>>();
  const ups = new Map<string, (payload: Uint8Array) => void>();
  const ensure = (): ChildProcess => {
    if (child && child.exitCode === null) return child;
    const c = spawn(command[0], command[1], { stdio: ["pipe", "pipe", "inherit"] });
    c.stdout?.on(
      "data",
      frameReader((type, key, rest) => {
        if (type === OPENED) {
          for (const resolve of pending.get(key) ?? []) resolve(rest.readUInt16BE(0));
          pending.delete(key);
        } else if (type === UP) ups.get(key)?.(rest);
      }),
    );
    child = c;
    return c;
  };
  // Started now, not at the first relayed peer: a node process takes a while to start on a busy host.
  ensure();
  return {
    async open(peerKey, up) {
      const key = keyBytes(peerKey);
      if (!key) throw new Error(`not a WireGuard key: ${peerKey}`);
      ups.set(peerKey, up);
      const c = ensure();
      const port = await new Promise<number>((resolve, reject) => {
        const waiters = pending.get(peerKey) ?? new Set<(port: number) => void>();
        pending.set(peerKey, waiters);
        const done = (p: number) => {
          clearTimeout(timer);
          resolve(p);
        };
        const timer = setTimeout(() => {
          waiters.delete(done);
          reject(new Error("the relay shim process did not answer within 60 s"));
        }, 60_000);
        waiters.add(done);
        c.stdin?.write(frame(OPEN, key, new Uint8Array()));
      });
      return {
        endpoint: `127.0.0.1:${port}`,
        deliver: (payload) => child?.stdin?.write(frame(DOWN, key, payload)),
        close: () => ups.delete(peerKey),
      };
    },
    async close() {
      child?.kill("SIGTERM");
      child = null;
    },
  };
}

/**
 * The child's side (run inside the namespace): opens local shims on request and relays datagrams
 * between them and its stdio. Ends when stdin closes (the parent went away).
 */
export async function runShimChild(opts: {
  wireguardPort: number;
  input: NodeJS.ReadableStream;
  output: NodeJS.WritableStream;
}): Promise<void> {
  const host = localShimHost(opts.wireguardPort);
  // One shim per key, however many times it is asked for (a repeated OPEN answers the same port:
  // a second socket would deliver from a port the parent does not know as a shim).
  const ports = new Map<string, Promise<TShimPort>>();
  opts.input.on(
    "data",
    frameReader((type, key, rest) => {
      const bytes = keyBytes(key);
      if (!bytes) return;
      if (type === OPEN) {
        let port = ports.get(key);
        if (!port) {
          port = host.open(key, (payload) => opts.output.write(frame(UP, bytes, payload)));
          ports.set(key, port);
        }
        void port.then((open) => {
          const p = Buffer.alloc(2);
          p.writeUInt16BE(Number(open.endpoint.split(":")[1]));
          opts.output.write(frame(OPENED, bytes, p));
        });
      } else if (type === DOWN) {
        void ports.get(key)?.then((open) => open.deliver(rest));
      }
    }),
  );
  // Ends with the parent: its stdin closes, or (a pipe kept open elsewhere) it is re-parented.
  const parent = process.ppid;
  await new Promise<void>((resolve) => {
    opts.input.once("end", () => resolve());
    const orphaned = setInterval(() => {
      if (process.ppid !== parent) resolve();
    }, 5_000);
    orphaned.unref();
    opts.input.once("end", () => clearInterval(orphaned));
  });
  await host.close();
}
