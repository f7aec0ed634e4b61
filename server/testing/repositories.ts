import type { TDatabase } from "@/server/db/client";
import { createContextUploadsRepository } from "@/server/db/repositories/blobs-repository";
import { createBuildsRepository } from "@/server/db/repositories/builds-repository";
import { createDeploymentsRepository } from "@/server/db/repositories/deployments-repository";
import { createFormnetRepository } from "@/server/db/repositories/formnet-repository";
import { createInstancesRepository } from "@/server/db/repositories/instances-repository";
import { createJobsRepository } from "@/server/db/repositories/jobs-repository";
import { createNodesRepository } from "@/server/db/repositories/nodes-repository";

/**
 * Repositories over a test console's database, for tests to read (and seed) state directly. The
 * console's own repositories are private to its services; these are separate instances.
 */
export function testRepositories(db: TDatabase) {
  return {
    jobs: createJobsRepository(db),
    nodes: createNodesRepository(db),
    builds: createBuildsRepository(db),
    deployments: createDeploymentsRepository(db),
    instances: createInstancesRepository(db),
    formnet: createFormnetRepository(db),
    contextUploads: createContextUploadsRepository(db),
  };
}

export type TTestRepositories = ReturnType<typeof testRepositories>;
