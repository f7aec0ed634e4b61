import type { Logger } from "pino";
import type { TDatabase } from "@/server/db/client";
import type { TEnv } from "@/server/env";
import { createSignedActionService } from "./signed-action-service";
import { createSiweService } from "./siwe-service";

export type { TActor, TSession } from "./session-types";

export function createAuthServices(deps: { db: TDatabase; env: TEnv; logger: Logger; now?: () => Date }) {
  return {
    siwe: createSiweService(deps),
    signedActions: createSignedActionService(deps),
  };
}

export type TAuthServices = ReturnType<typeof createAuthServices>;
