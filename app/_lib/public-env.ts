import { loadPublicConfig, type TPublicConfig } from "@/lib/public-config";

/**
 * The app's env module: the public part of the console's configuration (the chain, the console's
 * origin), read where the layout renders — on the console, per request. The one place app/ reads
 * `process.env`; server/env.ts parses the same variables with the same schema (lib/public-config.ts).
 */
export function publicEnv(): TPublicConfig {
  return loadPublicConfig(process.env);
}
