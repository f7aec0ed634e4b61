import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { agentEnv } from "../../config/env";
import { debianSources } from "../base";
import { mirrorRules, parseEgressRules, type TEgressRule } from "./egress-proxy";

/**
 * Where builds may connect: the Debian mirrors of the host's apt sources (the ones the base was
 * built from) plus the operator's `FORMATION_BUILD_EGRESS` (`host[:port],…`, e.g. a PyPI mirror).
 */
export async function buildEgressRules(extra = agentEnv().FORMATION_BUILD_EGRESS): Promise<TEgressRule[]> {
  const texts = await Promise.all(
    (await debianSources()).map(async (s) => (existsSync(s) ? await readFile(s, "utf8") : s)),
  );
  const rules = mirrorRules(texts.join("\n"));
  for (const r of parseEgressRules(extra)) {
    if (!rules.some((x) => x.host === r.host && x.port === r.port)) rules.push(r);
  }
  return rules;
}
