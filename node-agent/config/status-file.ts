import { readFile } from "node:fs/promises";
import { z } from "zod";
import { writeFileAtomic } from "@/core/fs/atomic-write";

/**
 * What a running agent last wrote about itself to `<data-dir>/status.json`; `node-agent status`
 * reads it without talking to the daemon (which has no local API to secure).
 */
export const ZAgentStatus = z.object({
  pid: z.number().int(),
  agentVersion: z.string(),
  startedAt: z.string(),
  updatedAt: z.string(),
  operator: z.string(),
  consoleUrl: z.string(),
  connection: z.string(),
  /** Why the agent is not connected (refusal or dial error), while it is not. */
  connectionProblem: z.string().optional(),
  nodeId: z.string().nullable(),
  formnet: z.object({
    address: z.string().nullable(),
    interface: z.string().nullable(),
    publicKey: z.string(),
  }),
  accel: z.string(),
  lastHeartbeatAt: z.string().nullable(),
  instances: z.array(z.object({ instanceId: z.string(), status: z.string(), ipv4: z.string() })),
  jobs: z.array(
    z.object({ jobId: z.string(), kind: z.string(), state: z.string(), phase: z.string().optional() }),
  ),
  stopped: z.boolean(),
});
export type TAgentStatus = z.infer<typeof ZAgentStatus>;

export async function writeStatusFile(path: string, status: TAgentStatus): Promise<void> {
  await writeFileAtomic(path, `${JSON.stringify(status, null, 2)}\n`, { mode: 0o644 });
}

export async function readStatusFile(path: string): Promise<TAgentStatus | undefined> {
  const text = await readFile(path, "utf8").catch(() => undefined);
  if (text === undefined) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return undefined;
  }
  const parsed = ZAgentStatus.safeParse(json);
  return parsed.success ? parsed.data : undefined;
}

/** Whether the process that wrote the status file still runs. */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM means it exists but belongs to someone else.
    return error instanceof Error && "code" in error && error.code === "EPERM";
  }
}
