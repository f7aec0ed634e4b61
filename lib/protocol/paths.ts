import type { TDigest } from "./common";

/** WebSocket path of the agent gateway on the console. */
export const AGENT_WS_PATH = "/ws/agent";

/** Console-relative path where agents download a build context tarball by digest. */
export function agentContextPath(digest: TDigest): string {
  return `/api/agent/contexts/${digest}`;
}

/** Console-relative path where agents upload (PUT) and download (GET) a disk image by digest. */
export function agentImagePath(digest: TDigest): string {
  return `/api/agent/images/${digest}`;
}
