import { z } from "zod";
import { blankAsUnset, parseEnv, type TEnvSource } from "@/lib/env";

/**
 * What the node agent reads from the environment (beside its `agent.json`); every `process.env`
 * read of node-agent/ goes through here (scripts/env-reads.test.ts checks it). Parsed on every
 * call: each is read once per command or job, and tests change the environment between cases.
 */
/** A switch that is on only when set to `1` (anything else is off, as the shell scripts expect). */
const ZSwitch = z
  .string()
  .optional()
  .transform((value) => value === "1");

const ZAgentEnv = z.object({
  /** The config file when --config is not given (default <data dir>/agent.json). */
  NODE_AGENT_CONFIG: z.string().optional().transform(blankAsUnset),
  /** The keystore password (or a file holding it: systemd credentials). */
  NODE_AGENT_PASSWORD: z.string().optional().transform(blankAsUnset),
  NODE_AGENT_PASSWORD_FILE: z.string().optional().transform(blankAsUnset),
  /** `1`: stopping the agent also tears its host down (bridges, VMs): test and bench fleets. */
  FORMATION_AGENT_EPHEMERAL: ZSwitch,
  /** Forces the accelerator instead of probing for KVM. */
  FORMATION_ACCEL: z.enum(["kvm", "tcg"]).optional(),
  /** One apt source line for the base image instead of the host's sources. */
  FORMATION_DEBIAN_MIRROR: z.string().optional().transform(blankAsUnset),
  /** Further hosts builds may reach (`host[:port],…`, e.g. a PyPI mirror). */
  FORMATION_BUILD_EGRESS: z.string().default(""),
  /** `1`: the build log also gets the build VM's kernel and init lines (debugging). */
  FORMATION_BUILD_CONSOLE: ZSwitch,
});

export type TAgentEnv = z.infer<typeof ZAgentEnv>;

/** The agent's environment (`source` for tests). */
export function agentEnv(source: TEnvSource = process.env): TAgentEnv {
  return parseEnv(ZAgentEnv, source, "node agent");
}
