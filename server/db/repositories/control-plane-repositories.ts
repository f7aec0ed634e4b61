import type { TDatabase } from "@/server/db/client";
import { createBlobHoldersRepository } from "./blob-holders-repository";
import { createBlobReferencesRepository, createContextUploadsRepository } from "./blobs-repository";
import { createBuildsRepository } from "./builds-repository";
import { createCommitmentsRepository } from "./commitments-repository";
import { createDeploymentsRepository } from "./deployments-repository";
import { createControlLeaseRepository, createFormnetRepository } from "./formnet-repository";
import { createInstancesRepository } from "./instances-repository";
import { createJobsRepository } from "./jobs-repository";
import { createNodesRepository } from "./nodes-repository";

/**
 * The control plane's repositories over one database: `createServices` hands each to the services
 * that own it; tests read and seed state through a set of their own (server/testing/repositories.ts).
 */
export function createControlPlaneRepositories(db: TDatabase) {
  return {
    jobs: createJobsRepository(db),
    nodes: createNodesRepository(db),
    builds: createBuildsRepository(db),
    deployments: createDeploymentsRepository(db),
    instances: createInstancesRepository(db),
    formnet: createFormnetRepository(db),
    leases: createControlLeaseRepository(db),
    contextUploads: createContextUploadsRepository(db),
    blobReferences: createBlobReferencesRepository(db),
    blobHolders: createBlobHoldersRepository(db),
    commitments: createCommitmentsRepository(db),
  };
}

export type TControlPlaneRepositories = ReturnType<typeof createControlPlaneRepositories>;
