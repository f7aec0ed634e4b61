import type { Socket } from "node:net";
import { appHostLabel } from "@/lib/ingress/app-host";
import { createDomainsRepository } from "@/server/db/repositories/domains-repository";
import {
  createIngressRepository,
  type TIngressRepository,
} from "@/server/db/repositories/ingress-repository";
import type { TConsoleModule } from "@/server/http/console-runtime";
import { AcmeLoop } from "./acme-loop";
import type { TAppUrlBase } from "./app-urls";
import { CertificateService, KeySeal } from "./certificates";
import { loadIngressConfig, type TIngressConfig } from "./config";
import { DomainService } from "./domains";
import { Edge } from "./edge";
import { HealthChecker } from "./health-checker";
import { HealthRecorder, type THealthRecorderOptions } from "./health-recorder";
import { answerAcmeChallenge, redirectToHttps, startEdgeListeners, type TEdgeListeners } from "./listeners";
import { RouteTable } from "./route-table";
import { TrafficStats } from "./traffic";

/** The running ingress of one console: routes, health checks, the edge and its traffic figures. */
export type TIngressService = {
  config: TIngressConfig;
  repo: TIngressRepository;
  routes: RouteTable;
  health: HealthChecker;
  traffic: TrafficStats;
  edge: Edge;
  recorder: HealthRecorder;
  domains: DomainService;
  certificates: CertificateService;
  listeners: TEdgeListeners;
};

export type TIngressModuleOptions = {
  /** Overrides of the environment-derived settings (tests). */
  config?: Partial<TIngressConfig>;
  /** Health recorder timings (tests shorten the boot allowance and restart window). */
  recorder?: Pick<THealthRecorderOptions, "intervalMs" | "bootAllowanceMs" | "restartWindowMs">;
  /** Port of the HTTP proof of control of custom domains (80; tests use another). */
  httpProofPort?: number;
  /** How often the ACME loop runs on the lease holder (tests shorten it). */
  acmeIntervalMs?: number;
};

/**
 * Console module of the public ingress (docs/ingress.md): app hosts on the console's own listeners
 * (the embedded default `http://<name>-<app id>.localhost:<console port>`) and on the edge's own
 * HTTP/HTTPS listeners when configured, custom domains with ACME certificates, health checks of
 * every running replica from this console (over formnet from its member address when it has one),
 * and on the lease holders the health records, restart/replace decisions and certificate renewals.
 * Starts after the control plane and the console's formnet membership.
 */
export function ingressModule(options: TIngressModuleOptions = {}): TConsoleModule {
  return {
    name: "ingress",
    async start(runtime) {
      const services = runtime.services;
      const config = { ...loadIngressConfig(), ...options.config };
      if (!config.enabled) return undefined;
      const log = runtime.logger.child({ component: "ingress" });
      const repo = createIngressRepository(runtime.db);
      const domainsRepo = createDomainsRepository(runtime.db);
      const localAddress = () => runtime.services.consoleFormnet?.address;
      const routes = new RouteTable({ repo, refreshMs: config.routesRefreshMs, log });
      const health = new HealthChecker({ localAddress, log });
      routes.onChange((replicas) => health.sync(replicas));
      const traffic = new TrafficStats();
      const certificates = new CertificateService({
        repo: domainsRepo,
        seal: await KeySeal.open(runtime.env.dataDir),
        acme: config.acme,
        dataDir: runtime.env.dataDir,
        log,
      });
      let listeners: TEdgeListeners = { httpPort: undefined, httpsPort: undefined, close: async () => {} };
      const domains = new DomainService({
        repo: domainsRepo,
        deployments: {
          find: async (id) => {
            const owner = await services.deploymentViews.deploymentOwner(id);
            return owner === null ? null : { owner };
          },
        },
        exposedPorts: async (deploymentId) => routes.byDeployment(deploymentId)?.ports ?? [],
        appsDomain: config.appsDomain,
        consoleHosts: [new URL(runtime.env.consoleOrigin).hostname],
        dnsServer: config.dnsServer,
        ...(options.httpProofPort === undefined ? {} : { httpProofPort: options.httpProofPort }),
        onVerified: (domain) => {
          if (config.acme) certificates.issue(domain).catch(() => undefined);
        },
        httpsPort: () => config.publicHttpsPort ?? listeners.httpsPort,
        log,
      });
      await domains.refresh();
      await certificates.load();
      routes.onChange(() => {
        domains
          .refresh()
          .catch((error: unknown) => log.warn({ err: error }, "custom domains could not be read"));
      });
      const edge = new Edge({
        routes,
        health,
        traffic,
        appsDomain: config.appsDomain,
        domain: (host) => domains.lookup(host),
        localAddress,
        connectTimeoutMs: config.connectTimeoutMs,
        lastConnectTimeoutMs: config.lastConnectTimeoutMs,
        suspectMs: config.suspectMs,
        retries: config.retries,
        log,
      });
      await routes.start();
      const recorder = new HealthRecorder({
        repo,
        checker: health,
        services,
        log,
        ...options.recorder,
      });
      recorder.start();
      let stopped = false;
      // Replicas start and end with jobs: re-read the routes at once instead of at the next tick.
      services.jobs.onEvent(async (event) => {
        if (!stopped && (event.type === "completed" || event.type === "failed")) await routes.refresh();
      });
      const unregister = runtime.virtualHosts.register({
        name: "ingress",
        claims: (host) => edge.claims(host),
        request: (req, res) => {
          answerAcmeChallenge(domainsRepo, req, res)
            .then((answered) => {
              if (answered) return;
              const httpsPort =
                listeners.httpsPort === undefined
                  ? undefined
                  : (config.publicHttpsPort ?? listeners.httpsPort);
              if (!redirectToHttps(req, res, { httpsPort, certificates })) edge.handle(req, res);
            })
            .catch((error: unknown) => log.warn({ err: error }, "ACME challenge lookup failed"));
        },
        upgrade: (req, socket, head) => edge.upgrade(req, socket as Socket, head),
      });
      listeners = await startEdgeListeners({
        edge,
        repo: domainsRepo,
        certificates,
        host: config.edgeHost ?? runtime.env.host,
        httpPort: config.edgeHttpPort,
        httpsPort: config.edgeHttpsPort,
        publicHttpsPort: config.publicHttpsPort,
        log,
      });
      // App hosts of a real apps domain get certificates of their own when the edge serves TLS.
      const tlsApps =
        config.appsDomain !== "localhost" && listeners.httpsPort !== undefined && config.acme !== null;
      services.appUrls.configure((): TAppUrlBase | null => {
        if (tlsApps) {
          return {
            scheme: "https",
            domain: config.appsDomain,
            port: config.publicHttpsPort ?? listeners.httpsPort ?? 443,
          };
        }
        const port = config.publicPort ?? listeners.httpPort ?? runtime.listening.port;
        return port === null ? null : { scheme: "http", domain: config.appsDomain, port };
      });
      const acmeLoop = new AcmeLoop({
        certificates,
        domainsRepo,
        leases: services.leases,
        holder: `${services.consoleId}:acme`,
        appHosts: () =>
          tlsApps
            ? routes
                .all()
                .flatMap((r) =>
                  r.ports.map(
                    (port, i) =>
                      `${appHostLabel({ owner: r.owner, name: r.name, port: i === 0 ? undefined : port })}.${config.appsDomain}`,
                  ),
                )
            : [],
        intervalMs: options.acmeIntervalMs ?? 60_000,
        log,
      });
      acmeLoop.start();
      services.ingress = {
        config,
        repo,
        routes,
        health,
        traffic,
        edge,
        recorder,
        domains,
        certificates,
        listeners,
      };
      log.info(
        { appsDomain: config.appsDomain, httpPort: listeners.httpPort, httpsPort: listeners.httpsPort },
        "ingress edge ready",
      );
      return async () => {
        stopped = true;
        unregister();
        await acmeLoop.stop();
        await listeners.close();
        await recorder.stop();
        health.stop();
        await routes.stop();
        edge.close();
      };
    },
  };
}
