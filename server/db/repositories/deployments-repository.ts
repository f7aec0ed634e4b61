import type { Deployment, TDatabase } from "@/server/db/client";

export type TDeploymentRow = Deployment;

/** Deployments: the desired (build, replicas) per owner and NAME. */
export function createDeploymentsRepository(db: TDatabase) {
  return {
    find(id: string): Promise<TDeploymentRow | null> {
      return db.deployment.findUnique({ where: { id } });
    },

    findByName(opts: { owner: string; name: string }): Promise<TDeploymentRow | null> {
      return db.deployment.findUnique({ where: { owner_name: { owner: opts.owner, name: opts.name } } });
    },

    /** Creates or updates the deployment NAME; `fresh` (a ship or rollback) forgets earlier boot failures. */
    upsert(d: {
      id: string;
      owner: string;
      name: string;
      buildId: string;
      replicas: number;
      fresh?: boolean;
    }): Promise<TDeploymentRow> {
      const { fresh, ...row } = d;
      return db.deployment.upsert({
        where: { owner_name: { owner: d.owner, name: d.name } },
        create: row,
        update: { buildId: d.buildId, replicas: d.replicas, ...(fresh ? { bootFailures: 0 } : {}) },
      });
    },

    /** Counts `count` more failed replicas; returns the deployment as it is now. */
    addBootFailures(id: string, count: number): Promise<TDeploymentRow> {
      return db.deployment.update({ where: { id }, data: { bootFailures: { increment: count } } });
    },

    /** A replica came up: the failures before it no longer stop placement. */
    async resetBootFailures(id: string): Promise<void> {
      await db.deployment.updateMany({ where: { id, bootFailures: { gt: 0 } }, data: { bootFailures: 0 } });
    },

    setNotice(id: string, notice: string | null): Promise<TDeploymentRow> {
      return db.deployment.update({ where: { id }, data: { notice } });
    },

    list(opts: { owner?: string }): Promise<TDeploymentRow[]> {
      return db.deployment.findMany({
        where: opts.owner ? { owner: opts.owner } : {},
        orderBy: { createdAt: "asc" },
      });
    },
  };
}

export type TDeploymentsRepository = ReturnType<typeof createDeploymentsRepository>;
