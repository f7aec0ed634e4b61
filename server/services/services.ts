import { randomUUID } from "node:crypto";
import type { Logger } from "pino";
import { createAdmission, type TAdmission } from "@/server/chain/admission";
import type { TDatabase } from "@/server/db/client";
import { createControlPlaneRepositories } from "@/server/db/repositories/control-plane-repositories";
import type { TEnv } from "@/server/env";
import type { ConsoleFormnetMember } from "@/server/formnet/console-member";
import type { RelayHub } from "@/server/formnet/relay-hub";
import { AgentSockets } from "@/server/gateway/agent-sockets";
import { loadControlPlaneConfig, type TControlPlaneConfig } from "@/server/gateway/config";
import { InProcessNotifier, type Notifier, PgNotifier } from "@/server/gateway/notifier";
import { SerialLogRequests } from "@/server/gateway/serial-log";
import { AppUrls } from "@/server/ingress/app-urls";
import type { TIngressService } from "@/server/ingress/module";
import type { TConsoleStateStore } from "@/server/statestore/module";
import type { TTerminalService } from "@/server/terminal/module";
import { createAuthServices, type TAuthServices } from "./auth";
import { BlobGc } from "./blobs/blob-gc";
import { BlobSources } from "./blobs/blob-sources";
import { BlobStore } from "./blobs/blob-store";
import { ContextUploads } from "./blobs/context-uploads";
import { BuildService } from "./builds/build-service";
import { createBuildCommitments, type TBuildCommitments } from "./chain/build-commitments";
import { DeploymentService } from "./deployments/deployment-service";
import { DeploymentViews } from "./deployments/deployment-views";
import { Reconciler } from "./deployments/reconciler";
import { SerialService } from "./deployments/serial-service";
import { HistoryPruner } from "./history";
import { JobService } from "./jobs/job-service";
import { ControlLeases } from "./leases";
import { FormnetService } from "./nodes/formnet-service";
import { NodeService } from "./nodes/node-service";
import { Scheduler } from "./scheduler/scheduler";
import { Sweeper } from "./sweeper";

/** Who may connect as a node agent: the orchestrator contract (and allow-list), or the allow-list. */
export type TAdmissionCheck = { isAdmitted(address: string): Promise<boolean> };

/**
 * Everything the console's back end does, built once at console start (`startConsole`) and put on
 * every tRPC context as `ctx.services` (create-t3-app's way): routers call these, never a
 * repository. Repositories are created here and handed only to the services that own them.
 * Console modules (server/http/modules.ts) run the long-lived parts on top: the agent gateway,
 * the sweeper's timer, the terminal, the state store, the console's own formnet membership.
 */
export type TServices = {
  /** This console process (several may share one PostgreSQL database). */
  consoleId: string;
  config: TControlPlaneConfig;
  auth: TAuthServices;
  admission: TAdmissionCheck;
  notifier: Notifier;
  /** The agent sockets this console holds. */
  agents: AgentSockets;
  scheduler: Scheduler;
  jobs: JobService;
  builds: BuildService;
  deployments: DeploymentService;
  deploymentViews: DeploymentViews;
  reconciler: Reconciler;
  nodes: NodeService;
  formnet: FormnetService;
  serial: SerialService;
  blobs: BlobStore;
  /** Who holds a blob and its pieces' hashes, for nodes fetching from their peers. */
  blobSources: BlobSources;
  /** Uploaded build contexts with their owners and quota. */
  contexts: ContextUploads;
  blobGc: BlobGc;
  commitments: TBuildCommitments;
  sweeper: Sweeper;
  /** Named cluster-wide leases (a loop that runs on one console: ingress health, ACME). */
  leases: ControlLeases;
  /** The apps' URLs in every DTO; configured by the ingress module (none without it). */
  appUrls: AppUrls;
  /** Set by the terminal module: the SSH CA and sessions. */
  terminal?: TTerminalService;
  /** Set by the state-store module: the console's replica. */
  stateStore?: TConsoleStateStore;
  /** Set by the formnet module: the formnet relay's hub (members connected, relayed and dropped counts). */
  formnetRelay?: RelayHub;
  /** Set by the formnet module when this console host is a formnet member. */
  consoleFormnet?: ConsoleFormnetMember;
  /** Set by the ingress module (docs/ingress.md): routes, health checks, the edge, custom domains. */
  ingress?: TIngressService;
  /** Closes what the services hold (relays, chain watch, LISTEN connection); after the modules stopped. */
  close(): Promise<void>;
};

export type TServicesOptions = {
  db: TDatabase;
  env: TEnv;
  logger: Logger;
  /** Overrides of the environment-derived control-plane settings (tests use short timings). */
  config?: Partial<TControlPlaneConfig>;
  /** Replaces the contract/allow-list admission (tests). */
  admission?: TAdmissionCheck;
};

/**
 * The orchestrator contract when one is configured (its event watch starts on first use), else the
 * allow-list (FORMATION_AGENT_ALLOWLIST) alone.
 */
function defaultAdmission(env: TEnv, logger: Logger): { check: TAdmissionCheck; close: () => void } {
  const contract = env.orchestratorAddress;
  if (contract) {
    let admission: TAdmission | null = null;
    return {
      check: {
        isAdmitted: (address) => {
          admission ??= createAdmission({
            rpcUrl: env.chainRpcUrl,
            chainId: env.chainId,
            contract,
            allowlist: env.agentAllowlist,
            logger: logger.child({ component: "admission" }),
          });
          return admission.isAdmitted(address);
        },
      },
      close: () => admission?.close(),
    };
  }
  const allowed = new Set(env.agentAllowlist.map((a) => a.toLowerCase()));
  return { check: { isAdmitted: async (a) => allowed.has(a.toLowerCase()) }, close: () => undefined };
}

/** Builds the console's services (the composition root). */
export async function createServices(o: TServicesOptions): Promise<TServices> {
  const { db, env } = o;
  const log = o.logger.child({ component: "control-plane" });
  const config = { ...loadControlPlaneConfig(), ...o.config };
  const consoleId = `c-${randomUUID()}`;
  const notifier: Notifier =
    env.databaseProvider === "postgresql"
      ? await PgNotifier.connect({ connectionString: env.databaseUrl, log })
      : new InProcessNotifier();
  const admission = o.admission
    ? { check: o.admission, close: () => undefined }
    : defaultAdmission(env, o.logger);
  const repos = createControlPlaneRepositories(db);
  const limits = config.limits;
  const agents = new AgentSockets();
  const appUrls = new AppUrls();
  const blobs = new BlobStore({ dataDir: env.dataDir });
  const blobSources = new BlobSources({ blobs, holders: repos.blobHolders });
  const contexts = new ContextUploads({
    repo: repos.contextUploads,
    blobs,
    maxContextBytes: config.maxContextBytes,
    quotaBytes: limits.contextQuotaBytes,
    gcGraceMs: limits.blobGcGraceMs,
  });
  const blobGc = new BlobGc({
    blobs,
    references: repos.blobReferences,
    contexts: repos.contextUploads,
    graceMs: limits.blobGcGraceMs,
    intervalMs: limits.blobGcIntervalMs,
    keepBuilds: limits.imageKeepBuilds,
    log: log.child({ component: "blob-gc" }),
  });
  const formnet = new FormnetService({
    repo: repos.formnet,
    cidr: config.formnetCidr,
    notifier,
    maxDevicesPerUser: limits.formnetMaxDevices,
  });
  const nodes = new NodeService({
    repo: repos.nodes,
    instances: repos.instances,
    formnet,
    log,
    timing: {
      heartbeatIntervalMs: config.heartbeatIntervalMs,
      offlineAfterMs: config.offlineAfterMs,
      metricsSampleMs: config.metricsSampleMs,
      metricsRetentionMs: config.metricsRetentionMs,
    },
  });
  const scheduler = new Scheduler({
    jobs: repos.jobs,
    nodes: repos.nodes,
    instances: repos.instances,
    agents,
    isHealthy: (node) => nodes.isHealthy(node),
    maxBuildsPerNode: config.maxBuildsPerNode,
  });
  const jobs = new JobService({
    jobs: repos.jobs,
    links: agents,
    scheduler,
    notifier,
    log,
    timing: { leaseMs: config.leaseMs, ackTimeoutMs: config.ackTimeoutMs },
  });
  const builds = new BuildService({
    builds: repos.builds,
    jobs,
    scheduler,
    blobs,
    contexts,
    policy: config.policy,
    maxContextBytes: config.maxContextBytes,
    maxImageBytes: config.maxImageBytes,
    deadlines: config.buildDeadlines,
    log,
    appUrls,
  });
  const reconciler = new Reconciler({
    deployments: repos.deployments,
    instances: repos.instances,
    builds: repos.builds,
    buildService: builds,
    jobs,
    nodes,
    scheduler,
    formnet,
    log,
  });
  const commitments = createBuildCommitments({
    repo: repos.commitments,
    chain: env.orchestratorAddress
      ? { rpcUrl: env.chainRpcUrl, chainId: env.chainId, contract: env.orchestratorAddress }
      : null,
    relayerPrivateKey: env.relayerPrivateKey,
    log: o.logger.child({ component: "build-commitments" }),
  });
  const deploymentViews = new DeploymentViews({
    deployments: repos.deployments,
    instances: repos.instances,
    builds: repos.builds,
    jobs,
    scheduler,
    commitments,
    appUrls,
  });
  const deployments = new DeploymentService({
    deployments: repos.deployments,
    instances: repos.instances,
    builds: repos.builds,
    nodes,
    jobs,
    reconciler,
    commitments,
    views: deploymentViews,
    replicas: config.replicas,
    images: blobs,
    imageKeepBuilds: limits.imageKeepBuilds,
    log,
  });
  const serial = new SerialService({
    requests: new SerialLogRequests({ connections: agents, findNode: (id) => nodes.find(id) }),
    instances: repos.instances,
  });
  const sweeper = new Sweeper({
    consoleId,
    leases: repos.leases,
    jobs,
    nodes,
    builds,
    reconciler,
    history: new HistoryPruner({
      jobs: repos.jobs,
      instances: repos.instances,
      retentionMs: config.historyRetentionMs,
    }),
    timing: { sweepIntervalMs: config.sweepIntervalMs, bootTimeoutMs: config.bootTimeoutMs },
    log,
  });
  return {
    consoleId,
    config,
    auth: createAuthServices({ db, env, logger: o.logger.child({ component: "auth" }) }),
    admission: admission.check,
    notifier,
    agents,
    scheduler,
    jobs,
    builds,
    deployments,
    deploymentViews,
    reconciler,
    nodes,
    formnet,
    serial,
    blobs,
    blobSources,
    contexts,
    blobGc,
    commitments,
    sweeper,
    leases: new ControlLeases(repos.leases),
    appUrls,
    async close() {
      await commitments.close();
      admission.close();
      await notifier.close();
    },
  };
}
