import type { Logger } from "pino";
import type { TDatabase } from "@/server/db/client";
import { nonceRepository } from "@/server/db/repositories/nonce-repository";
import type { TEnv } from "@/server/env";
import { createSignedActionService } from "./signed-action-service";
import { createSiweService } from "./siwe-service";

export type { TActor, TSession } from "./session-types";

export function createAuthServices(deps: { db: TDatabase; env: TEnv; logger: Logger; now?: () => Date }) {
  return {
    siwe: createSiweService(deps),
    signedActions: createSignedActionService(deps),
    /** Deletes SIWE and signed-action nonces whose signatures expired before `before`. */
    pruneNonces: (before: Date) => nonceRepository(deps.db).prune(before),
  };
}

export type TAuthServices = ReturnType<typeof createAuthServices>;
