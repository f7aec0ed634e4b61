import { randomUUID } from "node:crypto";
import { createLogger, type Logger } from "@/core/log";
import { FormationError } from "@/lib/errors";
import {
  MAX_SERIAL_BYTES,
  SERIAL_LOG_MIN_PROTOCOL,
  type TConsoleToAgent,
  type TSerialReply,
  ZSerialRequest,
} from "@/lib/protocol";

/** Why a serial log could not be read; each names what the user can do about it. */
export type TSerialLogErrorCode =
  | "nodeOffline" // no live socket to the node on this console
  | "notOnNode" // the agent says it does not host the instance (not booted yet, or deleted)
  | "timeout" // the agent did not answer in time
  | "agentTooOld" // the agent speaks a protocol without serial logs
  | "unreadable" // the agent could not read the file
  | "busy"; // too many requests to this node in flight

export class SerialLogError extends FormationError<TSerialLogErrorCode> {
  override readonly name = "SerialLogError";
  constructor(code: TSerialLogErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(code, message, options);
  }
}

export type TSerialSlice = { data: string; offset: number; end: number; size: number };

type TSocket = { readonly isOpen: boolean; send(message: TConsoleToAgent): boolean };

type TPending = {
  nodeId: string;
  instanceId: string;
  resolve: (slice: TSerialSlice) => void;
  reject: (error: SerialLogError) => void;
  timer: NodeJS.Timeout;
};

export type TSerialLogOptions = {
  /** This console's live agent sockets by node id. */
  connections: { get(nodeId: string): TSocket | undefined };
  /** The node's stored row: protocol version from its hello, status and holding console. */
  findNode: (
    nodeId: string,
  ) => Promise<{ protocolVersion: number; status: string; consoleId: string | null } | null>;
  timeoutMs?: number;
  /** Requests in flight per node; more are refused with `busy` (protects the agent's socket). */
  maxPendingPerNode?: number;
  log?: Logger;
};

/**
 * Console side of `instance.serial.request` / `instance.serial.reply`: sends a request on the
 * socket of the node hosting the instance and resolves with the agent's answer, or fails with a
 * typed `SerialLogError`. Replies are matched by request id AND sending node, so an agent cannot
 * answer (or spoil) a request meant for another node.
 */
export class SerialLogRequests {
  readonly #o: TSerialLogOptions;
  readonly #pending = new Map<string, TPending>();
  readonly #log: Logger;

  constructor(options: TSerialLogOptions) {
    this.#o = options;
    this.#log = options.log ?? createLogger("serial-log");
  }

  async request(opts: {
    nodeId: string;
    instanceId: string;
    maxBytes: number;
    offset?: number | undefined;
    timeoutMs?: number;
  }): Promise<TSerialSlice> {
    const { nodeId, instanceId } = opts;
    const socket = this.#o.connections.get(nodeId);
    if (!socket?.isOpen) {
      const node = await this.#o.findNode(nodeId);
      const elsewhere = node && node.status === "online" && node.consoleId !== null;
      throw new SerialLogError(
        "nodeOffline",
        elsewhere
          ? `node ${nodeId} is connected to another console replica; retry (serial logs are read through the replica holding the agent's connection)`
          : `node ${nodeId} is offline; the log can be read again when its agent reconnects`,
      );
    }
    const node = await this.#o.findNode(nodeId);
    if (node && node.protocolVersion < SERIAL_LOG_MIN_PROTOCOL) {
      throw new SerialLogError(
        "agentTooOld",
        `node ${nodeId} runs an agent speaking protocol ${node.protocolVersion}; serial logs need ${SERIAL_LOG_MIN_PROTOCOL} or newer (the operator must upgrade the node agent)`,
      );
    }
    const inFlight = [...this.#pending.values()].filter((p) => p.nodeId === nodeId).length;
    if (inFlight >= (this.#o.maxPendingPerNode ?? 16)) {
      throw new SerialLogError(
        "busy",
        `too many serial log requests to node ${nodeId} in flight; retry shortly`,
      );
    }
    const requestId = `s-${randomUUID()}`;
    // Validated before it leaves, like every frame on receipt: a bad id fails here, not at the timeout.
    const parsed = ZSerialRequest.safeParse({
      type: "instance.serial.request",
      requestId,
      instanceId,
      maxBytes: Math.min(Math.max(1, Math.floor(opts.maxBytes)), MAX_SERIAL_BYTES),
      ...(opts.offset === undefined ? {} : { offset: opts.offset }),
    });
    if (!parsed.success) {
      throw new SerialLogError("notOnNode", `${instanceId.slice(0, 140)} is not a valid instance id`, {
        cause: parsed.error,
      });
    }
    const frame = parsed.data;
    const timeoutMs = opts.timeoutMs ?? this.#o.timeoutMs ?? 5_000;
    return new Promise<TSerialSlice>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#fail(
          requestId,
          new SerialLogError(
            "timeout",
            `node ${nodeId} did not answer within ${timeoutMs} ms; it may be overloaded, retry`,
          ),
        );
      }, timeoutMs);
      this.#pending.set(requestId, { nodeId, instanceId, resolve, reject, timer });
      const sent = socket.send(frame);
      if (!sent) this.#fail(requestId, new SerialLogError("nodeOffline", `node ${nodeId} just disconnected`));
    });
  }

  /**
   * A reply from node `nodeId`. False when no request of that node with this id is waiting (the
   * caller answers `notYours`); late replies after a timeout land here too.
   */
  onReply(nodeId: string, reply: TSerialReply): boolean {
    const p = this.#pending.get(reply.requestId);
    if (!p || p.nodeId !== nodeId || p.instanceId !== reply.instanceId) return false;
    this.#pending.delete(reply.requestId);
    clearTimeout(p.timer);
    if (reply.error) {
      p.reject(
        reply.error.code === "unknownInstance"
          ? new SerialLogError("notOnNode", `instance ${p.instanceId} is not on node ${nodeId} (yet)`)
          : new SerialLogError("unreadable", reply.error.message),
      );
      return true;
    }
    p.resolve({ data: reply.data, offset: reply.offset, end: reply.end, size: reply.size });
    return true;
  }

  /** The node's socket closed: fail its requests now instead of at their timeout. */
  nodeGone(nodeId: string): void {
    for (const [id, p] of this.#pending) {
      if (p.nodeId === nodeId)
        this.#fail(id, new SerialLogError("nodeOffline", `node ${nodeId} disconnected`));
    }
  }

  /** Requests waiting for an answer (tests, shutdown). */
  get pending(): number {
    return this.#pending.size;
  }

  #fail(requestId: string, error: SerialLogError): void {
    const p = this.#pending.get(requestId);
    if (!p) return;
    this.#pending.delete(requestId);
    clearTimeout(p.timer);
    this.#log.debug({ nodeId: p.nodeId, code: error.code }, "serial log request failed");
    p.reject(error);
  }
}
