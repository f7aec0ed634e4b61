import type { Socket } from "node:net";
import {
  createIngressRepository,
  type TIngressRepository,
} from "@/server/db/repositories/ingress-repository";
import type { TConsoleModule } from "@/server/http/console-runtime";
import type { TAppUrlBase } from "./app-urls";
import { loadIngressConfig, type TIngressConfig } from "./config";
import { Edge } from "./edge";
import { HealthChecker } from "./health-checker";
import { HealthRecorder, type THealthRecorderOptions } from "./health-recorder";
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
};

declare module "@/server/http/console-runtime" {
  interface ConsoleServices {
    ingress: TIngressService;
  }
}

export type TIngressModuleOptions = {
  /** Overrides of the environment-derived settings (tests). */
  config?: Partial<TIngressConfig>;
  /** Health recorder timings (tests shorten the boot allowance and restart window). */
  recorder?: Pick<THealthRecorderOptions, "intervalMs" | "bootAllowanceMs" | "restartWindowMs">;
};

/**
 * Console module of the public ingress (docs/ingress.md): app hosts on the console's own listeners
 * (the embedded default `http://<name>-<app id>.localhost:<console port>`), health checks of every
 * running replica from this console (over formnet from its member address when it has one), and
 * on the `ingress-health` lease holder the health records and restart/replace decisions. Starts
 * after the control plane and the console's formnet membership.
 */
export function ingressModule(options: TIngressModuleOptions = {}): TConsoleModule {
  return {
    name: "ingress",
    async start(runtime) {
      const cp = runtime.services.controlPlane;
      const config = { ...loadIngressConfig(), ...options.config };
      if (!cp || !config.enabled) return undefined;
      const log = runtime.logger.child({ component: "ingress" });
      const repo = createIngressRepository(runtime.db);
      const localAddress = () => runtime.services.consoleFormnet?.address;
      const routes = new RouteTable({ repo, refreshMs: config.routesRefreshMs, log });
      const health = new HealthChecker({ localAddress, log });
      routes.onChange((replicas) => health.sync(replicas));
      const traffic = new TrafficStats();
      const edge = new Edge({
        routes,
        health,
        traffic,
        appsDomain: config.appsDomain,
        domain: () => undefined,
        localAddress,
        connectTimeoutMs: config.connectTimeoutMs,
        suspectMs: config.suspectMs,
        retries: config.retries,
        log,
      });
      await routes.start();
      const recorder = new HealthRecorder({
        repo,
        checker: health,
        controlPlane: cp,
        log,
        ...options.recorder,
      });
      recorder.start();
      let stopped = false;
      // Replicas start and end with jobs: re-read the routes at once instead of at the next tick.
      cp.jobs.onEvent(async (event) => {
        if (!stopped && (event.type === "completed" || event.type === "failed")) await routes.refresh();
      });
      const unregister = runtime.virtualHosts.register({
        name: "ingress",
        claims: (host) => edge.claims(host),
        request: (req, res) => edge.handle(req, res),
        upgrade: (req, socket, head) => edge.upgrade(req, socket as Socket, head),
      });
      cp.appUrls.configure((): TAppUrlBase | null => {
        const port = config.publicPort ?? config.edgeHttpPort ?? runtime.listening.port;
        return port === null ? null : { scheme: "http", domain: config.appsDomain, port };
      });
      runtime.services.ingress = { config, repo, routes, health, traffic, edge, recorder };
      log.info({ appsDomain: config.appsDomain }, "ingress edge ready");
      return async () => {
        stopped = true;
        unregister();
        await recorder.stop();
        health.stop();
        await routes.stop();
        edge.close();
      };
    },
  };
}
