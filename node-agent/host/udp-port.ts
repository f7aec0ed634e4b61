import { createSocket } from "node:dgram";

/** Whether a UDP port can be bound on all addresses right now. */
export function udpPortFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createSocket("udp4");
    socket.once("error", () => resolve(false));
    socket.bind(port, () => socket.close(() => resolve(true)));
  });
}

/** `from`, or the next port up to `from + 99` that is free; `from` again when none is. */
export async function firstFreeUdpPort(from: number): Promise<number> {
  for (let port = from; port < from + 100; port++) if (await udpPortFree(port)) return port;
  return from;
}
