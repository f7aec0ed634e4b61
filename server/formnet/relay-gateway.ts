import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { type RawData, type WebSocket, WebSocketServer } from "ws";
import type { Logger } from "@/core/log";
import { wsBytes } from "@/core/ws-bytes";
import { ZWireguardKey } from "@/lib/formnet/schemas";
import {
  parseRelayFrame,
  RELAY_MAX_DATAGRAM,
  RELAY_PROTOCOL_VERSION,
  type TRelayServerFrame,
  ZRelayClientFrame,
} from "@/lib/protocol/relay";
import { clientIp } from "@/server/http/admission";
import type { TCallerResolver } from "@/server/http/caller";
import type { FormnetService } from "@/server/services/nodes/formnet-service";
import type { NodeService } from "@/server/services/nodes/node-service";
import type { RelayHub, TRelayMember } from "./relay-hub";

/** Frames a member may have queued on its socket before further datagrams are dropped (as UDP). */
const MAX_BUFFERED_BYTES = 4 * 1024 * 1024;

/**
 * `/ws/relay`: authenticates a formnet member in the upgrade (node agents: their session's agent
 * token as `Authorization: Bearer`, and their node's key; laptops: a CLI read token and one of their
 * own joined devices' keys), then relays its WireGuard datagrams through the `RelayHub`.
 */
export class RelayGateway {
  readonly #wss = new WebSocketServer({ noServer: true, maxPayload: RELAY_MAX_DATAGRAM + 64 });

  constructor(
    private readonly o: {
      callers: TCallerResolver;
      nodes: Pick<NodeService, "nodeForAgentToken">;
      formnet: Pick<FormnetService, "isJoinedDevice">;
      hub: RelayHub;
      log: Logger;
    },
  ) {}

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    this.#wss.handleUpgrade(req, socket, head, (ws) => {
      void this.#onConnection(ws, req).catch((error: unknown) => {
        this.o.log.error({ err: error }, "relay connection failed");
        refuse(ws, "INTERNAL", "the relay could not take this connection; retry");
      });
    });
  }

  async #member(req: IncomingMessage, key: string): Promise<TRelayMember | string> {
    const auth = req.headers.authorization ?? "";
    const agent = /^Bearer ([0-9a-f]{64})$/.exec(auth);
    if (agent?.[1]) {
      const node = await this.o.nodes.nodeForAgentToken(agent[1]);
      if (!node) return "agent token unknown or its connection closed; reconnect";
      if (node.wgPublicKey !== key) return "that key is not this node's formnet key";
      return { key, kind: "node", owner: null };
    }
    const caller = await this.o.callers.resolve({
      cookie: null,
      authorization: auth || null,
      ip: clientIp(req),
    });
    const address = caller.session?.address;
    if (!address) return caller.authError?.message ?? "sign the request: a CLI read token or an agent token";
    if (!(await this.o.formnet.isJoinedDevice({ owner: address, publicKey: key })))
      return "that key is not one of your joined devices (`form manage join` first)";
    return { key, kind: "user", owner: address };
  }

  async #onConnection(ws: WebSocket, req: IncomingMessage): Promise<void> {
    const url = new URL(req.url ?? "/", "http://console.invalid");
    const key = ZWireguardKey.safeParse(url.searchParams.get("key"));
    if (!key.success) return refuse(ws, "BAD_REQUEST", "`key=` must be your WireGuard public key");
    const member = await this.#member(req, key.data);
    if (typeof member === "string") return refuse(ws, "UNAUTHORIZED", member);
    const log = this.o.log.child({ relayKey: member.key, kind: member.kind });
    const client = {
      member,
      send: (frame: Uint8Array) => {
        if (ws.readyState !== ws.OPEN || ws.bufferedAmount > MAX_BUFFERED_BYTES) return false;
        ws.send(frame, { binary: true });
        return true;
      },
    };
    const detach = this.o.hub.attach(client);
    ws.on("message", (data: RawData, isBinary: boolean) => {
      const bytes = wsBytes(data);
      if (isBinary) {
        this.o.hub.forward(client, bytes);
        return;
      }
      const frame = parseRelayFrame(ZRelayClientFrame, bytes.toString("utf8"));
      if (frame) send(ws, { type: "pong", t: frame.t });
    });
    ws.on("close", () => {
      detach();
      log.info("relay member disconnected");
    });
    send(ws, { type: "ready", v: RELAY_PROTOCOL_VERSION, key: member.key });
    log.info("relay member connected");
  }

  close(): Promise<void> {
    for (const ws of this.#wss.clients) ws.close(1001, "console shutting down");
    return new Promise((resolve) => this.#wss.close(() => resolve()));
  }
}

function send(ws: WebSocket, frame: TRelayServerFrame): void {
  if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(frame));
}

function refuse(ws: WebSocket, code: string, message: string): void {
  send(ws, { type: "error", code, message });
  ws.close(4003, code);
}
