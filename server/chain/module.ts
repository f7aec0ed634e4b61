import type { TConsoleModule } from "@/server/http/console-runtime";

/**
 * Console module of the chain side of the console: resumes the build-commitment relays a previous
 * console process left pending (the service itself is `services.commitments`).
 */
export function buildCommitmentsModule(): TConsoleModule {
  return {
    name: "build-commitments",
    async start(runtime) {
      const resumed = await runtime.services.commitments.resumePending();
      if (resumed > 0) runtime.logger.info({ resumed }, "resuming pending build commitment relays");
    },
  };
}
