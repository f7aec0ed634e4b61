import type { TDatabase } from "@/server/db/client";
import {
  createControlPlaneRepositories,
  type TControlPlaneRepositories,
} from "@/server/db/repositories/control-plane-repositories";

/**
 * Repositories over a test console's database, for tests to read (and seed) state directly. The
 * console's own repositories are private to its services; these are separate instances.
 */
export function testRepositories(db: TDatabase): TControlPlaneRepositories {
  return createControlPlaneRepositories(db);
}

export type TTestRepositories = TControlPlaneRepositories;
