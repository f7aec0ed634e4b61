import type { TConsoleToAgent } from "@/lib/protocol";
import type { AgentLinks } from "@/server/services/jobs/types";
import type { LocalAgents } from "@/server/services/scheduler/scheduler";
import type { AgentConnection } from "./agent-connection";

/**
 * The agent sockets this console process holds, by node id: how services reach agents (job offers,
 * cancels, serial log requests, peer pushes). The agent gateway adds a socket at `welcome` and
 * removes it on close; every other console replica reaches the node through the Notifier.
 */
export class AgentSockets implements AgentLinks, LocalAgents {
  readonly #connections = new Map<string, AgentConnection>();

  get(nodeId: string): AgentConnection | undefined {
    return this.#connections.get(nodeId);
  }

  /** Makes `connection` the node's socket; returns the one it replaces, if any. */
  set(nodeId: string, connection: AgentConnection): AgentConnection | undefined {
    const previous = this.#connections.get(nodeId);
    this.#connections.set(nodeId, connection);
    return previous === connection ? undefined : previous;
  }

  /** Forgets the node's socket if it is still `connection`; true when it was. */
  delete(nodeId: string, connection: AgentConnection): boolean {
    if (this.#connections.get(nodeId) !== connection) return false;
    this.#connections.delete(nodeId);
    return true;
  }

  /** Whether this console holds a socket for the node (open or closing). */
  has(nodeId: string): boolean {
    return this.#connections.has(nodeId);
  }

  get size(): number {
    return this.#connections.size;
  }

  all(): AgentConnection[] {
    return [...this.#connections.values()];
  }

  send(nodeId: string, message: TConsoleToAgent): boolean {
    return this.#connections.get(nodeId)?.send(message) ?? false;
  }

  isConnected(nodeId: string): boolean {
    return this.#connections.get(nodeId)?.isOpen ?? false;
  }

  connectedNodeIds(): string[] {
    return [...this.#connections.keys()];
  }

  slotsOf(nodeId: string): number | null {
    return this.#connections.get(nodeId)?.jobSlots ?? null;
  }
}
