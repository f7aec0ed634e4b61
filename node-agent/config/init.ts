import { access, statfs } from "node:fs/promises";
import { cpus, totalmem } from "node:os";
import { dirname } from "node:path";
import { runPreflight } from "../host/preflight";
import { agentEnv, type TAgentEnv } from "./env";
import { loadConfig, saveConfig } from "./load";
import { unlockOperatorKey, writeOperatorKeystore } from "./operator-key";
import { dataPaths } from "./paths";
import { formatPreflight } from "./preflight-report";
import type { TPrompter } from "./prompt";
import type { TAgentConfig } from "./schema";
import { collectInitAnswers, resolveKey, type THostDefaults, type TInitFlags } from "./wizard";

/** Offer all but one core, all but 1 GiB of memory and 80 % of the free disk by default. */
export async function hostDefaults(dataDir: string): Promise<THostDefaults> {
  let probe = dataDir;
  // The data dir may not exist yet; measure the nearest existing parent's filesystem.
  while (
    probe !== "/" &&
    !(await access(probe).then(
      () => true,
      () => false,
    ))
  )
    probe = dirname(probe);
  const fs = await statfs(probe);
  return {
    vcpu: Math.max(1, cpus().length - 1),
    memoryMb: Math.max(512, Math.floor(totalmem() / 1024 ** 2) - 1024),
    diskGb: Math.max(5, Math.floor(((fs.bavail * fs.bsize) / 1024 ** 3) * 0.8)),
  };
}

/**
 * `node-agent init`: ask (or read flags), write the encrypted keystore and `agent.json`, then run
 * the host preflight and print what to fix. Returns the config and whether the host is ready.
 */
export async function runInit(options: {
  flags: TInitFlags;
  prompter?: TPrompter;
  out: NodeJS.WritableStream;
  env?: Partial<Pick<TAgentEnv, "NODE_AGENT_PASSWORD">>;
  skipPreflight?: boolean;
}): Promise<{ config: TAgentConfig; ready: boolean }> {
  const { flags, out } = options;
  const env = options.env ?? agentEnv();
  const dataDirGuess = flags.dataDir ?? "/var/lib/formation/node-agent";
  const answers = await collectInitAnswers({
    flags,
    ...(options.prompter ? { prompter: options.prompter } : {}),
    host: await hostDefaults(dataDirGuess),
    passwordFromEnv: env.NODE_AGENT_PASSWORD,
    existingKeystore: async (dataDir) => {
      const existing = await loadConfig(dataPaths(dataDir).config).catch(() => undefined);
      const keystore = dataPaths(dataDir, existing).keystore;
      if (
        !(await access(keystore).then(
          () => true,
          () => false,
        ))
      )
        return undefined;
      return existing?.operator.address ?? "(unknown address)";
    },
  });
  const paths = dataPaths(answers.config.dataDir);
  const privateKey = resolveKey(answers.key);
  let address: string;
  if (privateKey) {
    address = (await writeOperatorKeystore({ path: paths.keystore, privateKey, password: answers.password }))
      .address;
    out.write(`Operator key ${answers.key.kind === "generate" ? "generated" : "imported"}: ${address}\n`);
    out.write(`  encrypted keystore: ${paths.keystore}\n`);
  } else {
    // Keeping the old key: unlocking proves the password matches before it is relied on at run time.
    address = (await unlockOperatorKey({ path: paths.keystore, password: answers.password })).address;
    out.write(`Keeping operator key ${address}\n`);
  }
  const config = await saveConfig(paths.config, {
    ...answers.config,
    operator: { ...answers.config.operator, address },
  });
  out.write(`Config written: ${paths.config}\n`);
  if (!config.chain) out.write("  no chain configured: the agent will not register on chain\n");
  if (options.skipPreflight) return { config, ready: true };
  const report = await runPreflight({ cacheDir: config.cacheDir });
  out.write(`\n${formatPreflight(report)}`);
  if (report.ok) out.write(`\nStart the agent with: node-agent run --config ${paths.config}\n`);
  return { config, ready: report.ok };
}
