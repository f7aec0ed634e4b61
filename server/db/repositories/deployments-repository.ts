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

    upsert(d: {
      id: string;
      owner: string;
      name: string;
      buildId: string;
      replicas: number;
    }): Promise<TDeploymentRow> {
      return db.deployment.upsert({
        where: { owner_name: { owner: d.owner, name: d.name } },
        create: d,
        update: { buildId: d.buildId, replicas: d.replicas },
      });
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
