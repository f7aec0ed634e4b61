import type { IncomingMessage, ServerResponse } from "node:http";
import type { Duplex } from "node:stream";

/**
 * Requests routed by their Host rather than their path: the ingress edge serves deployed apps
 * (`<name>-<app id>.localhost:<port>`, custom domains) on the console's own listeners. Consulted
 * before every console route, so an app host never reaches the console's API, pages, cookies or
 * rate limits, and the console's own host never reaches an app.
 */
export type TVirtualHost = {
  name: string;
  /** True when this handler serves `host` (the Host header as sent). Called per request: cheap. */
  claims(host: string | undefined): boolean;
  request(req: IncomingMessage, res: ServerResponse): void;
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
};

export class VirtualHostRegistry {
  readonly #hosts: TVirtualHost[] = [];

  register(host: TVirtualHost): () => void {
    this.#hosts.push(host);
    return () => {
      const i = this.#hosts.indexOf(host);
      if (i !== -1) this.#hosts.splice(i, 1);
    };
  }

  match(host: string | undefined): TVirtualHost | undefined {
    if (this.#hosts.length === 0) return undefined;
    return this.#hosts.find((h) => h.claims(host));
  }
}
