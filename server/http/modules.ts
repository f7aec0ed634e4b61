import { buildCommitmentsModule } from "@/server/chain/module";
import { consoleFormnetModule } from "@/server/formnet/module";
import { controlPlaneModule } from "@/server/gateway/module";
import { ingressModule } from "@/server/ingress/module";
import { stateStoreModule } from "@/server/statestore/module";
import { terminalModule } from "@/server/terminal/module";
import type { TConsoleModule } from "./console-runtime";

/**
 * Modules every console (the real one and in-process test consoles) starts. Add one line per
 * gateway/scheduler here; tests can pass their own list to `startConsole({ modules })`.
 */
export const consoleModules: TConsoleModule[] = [
  controlPlaneModule(),
  consoleFormnetModule(),
  ingressModule(),
  terminalModule(),
  stateStoreModule(),
  buildCommitmentsModule(),
];
