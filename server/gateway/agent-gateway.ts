import { randomBytes } from "node:crypto";
import type { Logger } from "@/core/log";
import { advertisedEndpoints } from "@/lib/formnet/advertised-endpoints";
import type { TAgentToConsole, TConsoleToAgent, THello, TMessageOf } from "@/lib/protocol";
import type { TServices } from "@/server/services/services";
import { AgentConnection, type AgentSessionHandler, CLOSE } from "./agent-connection";
import { PeerPusher } from "./peer-pusher";

/** How long a shutting-down console waits for an agent's closing handshake before dropping it. */
const SHUTDOWN_GRACE_MS = 5_000;

type TErrorFrame = TMessageOf<TConsoleToAgent, "error">;

export type TAgentGatewayOptions = {
  services: Pick<
    TServices,
    | "consoleId"
    | "config"
    | "admission"
    | "agents"
    | "notifier"
    | "nodes"
    | "jobs"
    | "reconciler"
    | "formnet"
    | "serial"
  >;
  /** Console origin agents sign in their challenge answer. */
  origin: string;
  log: Logger;
};

/**
 * The agent gateway of one console process: the handshake's decisions (admission, registration),
 * the dispatch of every agent frame to the service that owns it, and the console-side effects of
 * sockets opening and closing. Sockets live in `services.agents`; formnet peer pushes go through
 * the `PeerPusher`; periodic work is the `Sweeper`'s.
 */
export class AgentGateway implements AgentSessionHandler {
  readonly #o: TAgentGatewayOptions;
  readonly #s: TAgentGatewayOptions["services"];
  readonly #unsubscribe: (() => void)[] = [];
  /** Accepted connections whose close handler has not run yet. */
  readonly #connections = new Set<AgentConnection>();
  readonly #instanceStatus = new Map<string, string>();
  readonly pusher: PeerPusher;

  constructor(options: TAgentGatewayOptions) {
    this.#o = options;
    this.#s = options.services;
    const c = this.#s.config;
    this.pusher = new PeerPusher({
      formnet: this.#s.formnet,
      agents: this.#s.agents,
      notifier: this.#s.notifier,
      timing: {
        coalesceMs: c.peersCoalesceMs,
        coalesceMaxMs: c.peersCoalesceMaxMs,
        pageSize: c.peersPageSize,
      },
      log: options.log,
    });
  }

  /** Creates the session for a freshly upgraded agent WebSocket. */
  accept(
    socket: ConstructorParameters<typeof AgentConnection>[0]["socket"],
    peer: { remoteAddress?: string | undefined } = {},
  ): AgentConnection {
    const c = this.#s.config;
    const connection = new AgentConnection({
      socket,
      remoteAddress: peer.remoteAddress,
      origin: this.#o.origin,
      handler: this,
      log: this.#o.log.child({ consoleId: this.#s.consoleId }),
      heartbeatIntervalMs: c.heartbeatIntervalMs,
      leaseMs: c.leaseMs,
      handshakeTimeoutMs: c.handshakeTimeoutMs,
      maxMalformed: c.maxMalformed,
    });
    // Until its close handler has run: stop() waits for it even after the socket is gone.
    this.#connections.add(connection);
    void connection.ended().then(() => this.#connections.delete(connection));
    return connection;
  }

  start(): void {
    const { notifier, jobs } = this.#s;
    this.#unsubscribe.push(
      notifier.subscribe("formation_jobs", () => {
        jobs.dispatch().catch((error: unknown) => this.#o.log.error({ err: error }, "job dispatch failed"));
      }),
      notifier.subscribe("formation_cancel", (payload) => jobs.deliverCancel(payload)),
      notifier.subscribe("formation_node", (payload) => this.#onNodeNotice(payload)),
    );
    this.pusher.start();
  }

  /** Closes every agent socket and waits until their last frames were handled. */
  async stop(): Promise<void> {
    this.pusher.stop();
    for (const u of this.#unsubscribe.splice(0)) u();
    for (const c of this.#s.agents.all()) c.close(CLOSE.shutdown, "console shutting down");
    // Every socket's close handler (database writes) runs before the console closes its database,
    // those of sockets that closed just before too.
    await Promise.all([...this.#connections].map((c) => c.ended(SHUTDOWN_GRACE_MS)));
  }

  #onNodeNotice(payload: string): void {
    const [nodeId, consoleId] = payload.split(" ");
    if (!nodeId || consoleId === this.#s.consoleId) return;
    // The agent reconnected to another console: this socket is stale.
    this.#s.agents.get(nodeId)?.close(CLOSE.replaced, "agent connected elsewhere");
  }

  // --- AgentSessionHandler ----------------------------------------------------------------------

  isAdmitted(operator: string): Promise<boolean> {
    return this.#s.admission.isAdmitted(operator);
  }

  async register(hello: THello, connection: AgentConnection) {
    const agentToken = randomBytes(32).toString("hex");
    const endpoints = advertisedEndpoints({
      configured: hello.node.formnet.endpoints,
      observedAddress: connection.remoteAddress,
      listenPort: hello.node.formnet.listenPort,
    });
    const result = await this.#s.nodes.register({
      hello,
      endpoints,
      consoleId: this.#s.consoleId,
      agentToken,
    });
    if ("conflict" in result)
      return { ok: false as const, reason: "forbidden" as const, message: result.conflict };
    const { node } = result;
    this.#s.agents.set(node.id, connection)?.close(CLOSE.replaced, "agent reconnected");
    await this.#s.notifier.publish("formation_node", `${node.id} ${this.#s.consoleId}`);
    return {
      ok: true as const,
      nodeId: node.id,
      agentToken,
      formnet: { address: node.formnetIp ?? "", cidr: this.#s.formnet.cidr },
    };
  }

  async welcomed(hello: THello, connection: AgentConnection): Promise<void> {
    const nodeId = connection.nodeId;
    if (!nodeId) return;
    await this.#s.jobs.adopt(nodeId, hello.jobs);
    await this.#s.reconciler.adopt(nodeId, hello.instances);
    for (const i of hello.instances) this.#instanceStatus.set(i.instanceId, i.status);
    await this.pusher.pushAll(connection);
    await this.#s.jobs.dispatchNode(nodeId);
  }

  async handle(message: TAgentToConsole, connection: AgentConnection): Promise<TErrorFrame | null> {
    const nodeId = connection.nodeId;
    if (!nodeId) return { type: "error", code: "unexpected", message: "not welcomed" };
    const { jobs, reconciler, serial } = this.#s;
    const notYours = (what: string): TErrorFrame => ({
      type: "error",
      code: "notYours",
      message: `${what} is not assigned to node ${nodeId}`,
      inReplyTo: message.type,
    });
    const job = (held: boolean) => (held ? null : notYours(`job ${"jobId" in message ? message.jobId : ""}`));
    switch (message.type) {
      case "hello":
        return { type: "error", code: "unexpected", message: "already welcomed", inReplyTo: "hello" };
      case "heartbeat":
        await this.#heartbeat(nodeId, message);
        return null;
      case "job.ack":
        return job(await jobs.ack(nodeId, message.jobId));
      case "job.decline":
        return job(await jobs.decline(nodeId, message.jobId, message.reason));
      case "job.progress":
        return job(await jobs.progress({ nodeId, ...message }));
      case "job.log":
        return job(await jobs.log({ nodeId, jobId: message.jobId, lines: message.lines }));
      case "job.complete":
        return job(await jobs.complete({ nodeId, jobId: message.jobId, result: message.result }));
      case "job.fail":
        return job(
          await jobs.fail({
            nodeId,
            jobId: message.jobId,
            reason: message.reason,
            ...(message.line === undefined ? {} : { line: message.line }),
            ...(message.interrupted ? { interrupted: true } : {}),
          }),
        );
      case "instance.status":
        this.#instanceStatus.set(message.instanceId, message.status);
        return (await reconciler.report(nodeId, message)) ? null : notYours(`instance ${message.instanceId}`);
      case "instance.serial.reply":
        return serial.onReply(nodeId, message) ? null : notYours(`serial request ${message.requestId}`);
    }
  }

  async #heartbeat(nodeId: string, beat: TMessageOf<TAgentToConsole, "heartbeat">): Promise<void> {
    const { nodes, jobs, reconciler } = this.#s;
    nodes.heartbeat(nodeId, { seq: beat.seq, metrics: beat.metrics });
    if (beat.jobs && beat.jobs.length > 0) await jobs.heartbeat(nodeId, beat.jobs);
    const at = new Date();
    for (const i of beat.instances) {
      if (this.#instanceStatus.get(i.instanceId) !== i.status) {
        this.#instanceStatus.set(i.instanceId, i.status);
        await reconciler.report(nodeId, { instanceId: i.instanceId, status: i.status });
      }
      if (i.metrics)
        await nodes.instanceMetrics({ instanceId: i.instanceId, nodeId, metrics: i.metrics, at });
    }
  }

  async closed(connection: AgentConnection): Promise<void> {
    const nodeId = connection.nodeId;
    if (!nodeId || !this.#s.agents.delete(nodeId, connection)) return;
    this.#s.serial.nodeGone(nodeId);
    connection.log.info("agent disconnected");
    await this.#s.nodes.disconnected(nodeId, this.#s.consoleId);
    await this.#s.jobs.disconnected(nodeId);
  }
}
