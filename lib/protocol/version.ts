/**
 * Version of the console ⇄ node-agent WebSocket protocol (`/ws/agent`).
 *
 * History (bump on any change a peer of the previous version would misread; adding an optional
 * field that old peers may ignore does not need a bump, since zod strips unknown keys):
 *   1 — 2026-11: initial catalogue: challenge/hello/welcome/reject handshake, heartbeats with
 *       node and instance metrics, leased jobs (build, boot, stop, start, restart, delete) with
 *       ack/progress/log/complete/fail/cancel, instance status reports, formnet peer pushes,
 *       error frames for malformed input.
 *   2 — 2026-11: `instance.serial.request` (console → agent) / `instance.serial.reply` (agent →
 *       console): a bounded slice of an instance's serial console log. A version-1 agent would
 *       refuse the request frame as malformed, so the console sends it only to agents that said
 *       `protocolVersion ≥ 2` in hello (`SERIAL_LOG_MIN_PROTOCOL`) and answers `agentTooOld` for
 *       older ones. Version-1 agents are still admitted (everything else is unchanged).
 *   3 — 2026-12: formnet peers of kind `console` (a console host that is a formnet member of
 *       its own, so its SSH and health checks reach VMs over WireGuard); a boot job's
 *       `ownerPeers` includes the console members the VM must admit. A version-2 agent would
 *       refuse the unknown kind, so the console sends console peers to older agents as kind
 *       `user` (`peersForProtocol`), which they treat exactly alike (a /32 peer).
 *   4 — 2026-12: job kind `prefetch` (fetch an image by digest into the node's store, so that a
 *       replacement replica placed there later boots without a download). A version-3 agent would
 *       refuse the offer as malformed, so the console queues prefetches only for agents that said
 *       `protocolVersion ≥ 4` (`PREFETCH_MIN_PROTOCOL`); older agents simply get none.
 *       Later in 4 (optional, no bump): `job.fail {interrupted: true}` — the agent restarted mid-job
 *       and the console queues the job again; an older console drops the field and fails the job.
 *   5 — 2026-12: layered images. A build's image is a qcow2 layer whose header names its base by
 *       digest (`build` results carry `baseDigest`); a version-5 agent fetches the base too and
 *       checks both headers. An older agent would boot the layer without its base, so the console
 *       places replicas (and prefetches) of a layered build only on agents that said
 *       `protocolVersion ≥ 5` (`LAYERED_IMAGE_MIN_PROTOCOL`).
 *   6 — 2026-12: nodes fetch images from each other. An agent serves the blobs of its store to
 *       formnet nodes on TCP `PEER_BLOB_PORT` of its formnet address, and fetches a blob in
 *       pieces from the holders `GET /api/agent/sources/<digest>` names, each piece checked against
 *       the console's hash of it, the console as fallback (lib/protocol/blobs.ts). The console
 *       names as holders only agents that said `protocolVersion ≥ 6` (`PEER_BLOBS_MIN_PROTOCOL`):
 *       older ones serve nothing. Older agents never ask for sources and fetch from the console.
 *   7 — 2026-12: suspend. A `stop` job's payload may carry `suspend: true` (pause the guest, save
 *       its memory and device state beside its disk; the next `start` resumes it), its result
 *       `suspended: true`, and instance status `suspended` (hello, heartbeats, `instance.status`).
 *       A version-6 agent would strip the unknown `suspend` and shut the guest down — the memory
 *       the owner asked to keep would be lost — so the console sends `suspend` only to agents that
 *       said `protocolVersion ≥ 7` (`SUSPEND_MIN_PROTOCOL`) and refuses a suspend of an instance on
 *       an older node (PRECONDITION_FAILED, nothing changes); plain stops are unchanged.
 *
 * Rollout order: consoles first (a console admits `[MIN_SUPPORTED_PROTOCOL_VERSION,
 * PROTOCOL_VERSION]`, so it rejects agents newer than itself with `consoleTooOld`), then agents.
 */
export const PROTOCOL_VERSION = 7;

/** Oldest agent protocol that understands `prefetch` jobs. */
export const PREFETCH_MIN_PROTOCOL = 4;

/** Oldest agent protocol that can boot a layered image (fetches the base its header names). */
export const LAYERED_IMAGE_MIN_PROTOCOL = 5;

/** Oldest agent protocol that serves the blobs of its store to other nodes over formnet. */
export const PEER_BLOBS_MIN_PROTOCOL = 6;

/** Oldest agent protocol that can suspend an instance (`stop {suspend: true}`, status `suspended`). */
export const SUSPEND_MIN_PROTOCOL = 7;

/** Oldest protocol version this build still speaks (console side: oldest agent it admits). */
export const MIN_SUPPORTED_PROTOCOL_VERSION = 1;

/** Why a handshake cannot proceed because of versions; null when both sides can talk. */
export type TVersionMismatch = "agentTooOld" | "consoleTooOld" | null;

/**
 * Console side: decides whether an agent speaking `agentVersion` can be admitted by a console
 * speaking `[minSupported, current]`.
 */
export function checkAgentVersion(
  agentVersion: number,
  console_: { current: number; minSupported: number } = {
    current: PROTOCOL_VERSION,
    minSupported: MIN_SUPPORTED_PROTOCOL_VERSION,
  },
): TVersionMismatch {
  if (agentVersion < console_.minSupported) return "agentTooOld";
  if (agentVersion > console_.current) return "consoleTooOld";
  return null;
}

/**
 * Agent side: decides from the console's `challenge` whether this agent (speaking
 * `[minSupported, current]`) can talk to it, before sending `hello`.
 */
export function checkConsoleVersion(
  challenge: { protocolVersion: number; minProtocolVersion: number },
  agent: { current: number; minSupported: number } = {
    current: PROTOCOL_VERSION,
    minSupported: MIN_SUPPORTED_PROTOCOL_VERSION,
  },
): TVersionMismatch {
  if (challenge.minProtocolVersion > agent.current) return "agentTooOld";
  if (challenge.protocolVersion < agent.minSupported) return "consoleTooOld";
  return null;
}
