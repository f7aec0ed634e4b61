import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { StoreDialer } from "@/core/statestore/dialer";
import { ReplicaDirLockedError } from "@/core/statestore/persistence";
import { StateStore } from "@/core/statestore/store";
import { createStoreUpgradeHandler, STORE_WS_PATH } from "@/core/statestore/upgrade";
import { StaticAuthorizer } from "@/lib/statestore/authorize";
import { parseEntityKey } from "@/lib/statestore/entities";
import { createStateStoreRepository } from "@/server/db/repositories/statestore-repository";
import type { TConsoleModule, TConsoleRuntime } from "@/server/http/console-runtime";
import { sendJson } from "@/server/http/send";
import { loadOrCreateConsoleKey } from "./console-key";
import { StoreMirror } from "./mirror";
import { StorePublisher } from "./publisher";
import { STORE_CHALLENGE_PATH, StoreAuthenticator } from "./store-auth";

/** What the console exposes of its replica (tRPC `state`, tests). */
export type TConsoleStateStore = {
  store: StateStore;
  authorizer: StaticAuthorizer;
  publisher: StorePublisher;
  mirror: StoreMirror;
  dir: string;
  /** Is `address` an admitted node operator (may read the `state` API)? */
  isOperator(address: string): Promise<boolean>;
};

export type TStateStoreModuleOptions = {
  /** How often the database is compared with the store (default 2000 ms). */
  syncIntervalMs?: number;
  /**
   * Base URLs (`http://host:port`) of other consoles sharing this one's database and data dir
   * (hence its console key): this console's replica dials each one's `/ws/store`, authenticated
   * with the shared console key, so the consoles' replicas stay in step with each other too.
   */
  peers?: readonly string[];
};

// Consoles sharing a data dir (several replicas on one PostgreSQL) each need their own replica
// directory; they take the first free slot and all sign with the one console key of the data dir.
const MAX_SLOTS = 16;

async function openSlot(runtime: TConsoleRuntime, authorizer: StaticAuthorizer) {
  const account = await loadOrCreateConsoleKey(runtime.env.dataDir);
  authorizer.add(account.address, "console");
  for (let slot = 1; slot <= MAX_SLOTS; slot++) {
    const dir = join(runtime.env.dataDir, slot === 1 ? "statestore" : `statestore-${slot}`);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    try {
      const store = await StateStore.open({
        dir,
        account,
        authorizer,
        logger: runtime.logger.child({ component: "statestore" }),
      });
      return { store, dir };
    } catch (error) {
      if (error instanceof ReplicaDirLockedError) continue;
      throw error;
    }
  }
  throw new Error(`every state-store directory slot under ${runtime.env.dataDir} is in use`);
}

/**
 * Console module of the replicated state store (issue #7): the console's replica, `/ws/store` for
 * authenticated agent replicas, the database → store publisher, the store → database mirror and
 * the `state` read API's service. See docs/statestore.md, "Wiring".
 */
export function stateStoreModule(options: TStateStoreModuleOptions = {}): TConsoleModule {
  return {
    name: "statestore",
    async start(runtime) {
      const log = runtime.logger.child({ component: "statestore" });
      const authorizer = new StaticAuthorizer({});
      const { store, dir } = await openSlot(runtime, authorizer);
      const operators = new Set<string>();
      const admit = (address: string): boolean => {
        const lower = address.toLowerCase();
        if (operators.has(lower)) return false;
        operators.add(lower);
        authorizer.add(lower, "node");
        return true;
      };
      // Nodes the console admitted before (ownership records it signed) keep their role on restart.
      for (const { key, value } of store.list("nodes")) {
        const id = parseEntityKey(key)?.id;
        if (id && value.admitted === true) admit(id);
      }
      const repo = createStateStoreRepository(runtime.db);
      const { services } = runtime;
      const mirror = new StoreMirror({ store, repo, log, reconciler: () => services.reconciler });
      store.on("change", (event) => mirror.onChange(event));
      let admittedSince = false;
      const publisher = new StorePublisher({
        store,
        repo,
        formnetCidr: services.config.formnetCidr,
        log,
        onAdmit: (operator) => {
          if (admit(operator)) admittedSince = true;
        },
      });
      // The agent gateway's admission (contract or allow-list).
      const isAdmitted = (address: string) => services.admission.isAdmitted(address);
      // Other consoles of this data dir sign with the same key: they are peers, not nodes.
      const auth = new StoreAuthenticator({
        origin: runtime.env.consoleOrigin,
        isAdmitted: async (address) => address === store.address || (await isAdmitted(address)),
      });

      let syncing: Promise<unknown> = Promise.resolve();
      const sync = () => {
        syncing = syncing
          .then(async () => {
            await publisher.syncOnce();
            if (admittedSince) {
              admittedSince = false;
              // Changes refused while their writer was unknown come again and now pass.
              store.resync();
            }
          })
          .catch((error: unknown) => log.error({ err: error }, "state-store publish failed"));
        return syncing;
      };

      runtime.http.register(STORE_CHALLENGE_PATH, async ({ res }) => {
        sendJson(res, 200, { ...auth.issue(), console: store.address });
      });
      const onStoreUpgrade = createStoreUpgradeHandler(store);
      runtime.upgrades.register(STORE_WS_PATH, async ({ req, socket, head }) => {
        const verdict = await auth.authenticate(req);
        if (!verdict.ok) {
          log.warn({ reason: verdict.reason, remote: req.socket.remoteAddress }, "store replica refused");
          const text = verdict.status === 401 ? "Unauthorized" : "Forbidden";
          socket.end(`HTTP/1.1 ${verdict.status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
          return;
        }
        if (verdict.address !== store.address && admit(verdict.address)) {
          // Record the admission in the store so every replica learns this node may write.
          await store.write(`nodes/${verdict.address}`, (doc) => {
            doc.operator = verdict.address;
            doc.admitted = true;
          });
          store.resync();
        }
        if (!onStoreUpgrade(req, socket, head)) socket.destroy();
      });

      const account = await loadOrCreateConsoleKey(runtime.env.dataDir);
      const peerDialers = (options.peers ?? runtime.env.stateStorePeers).map((consoleUrl) => {
        const dialer = new StoreDialer({
          consoleUrl,
          account,
          store,
          logger: log.child({ peer: consoleUrl }),
          // A console with another key is not of this data dir: never sync with it.
          onConsole: (address) => address === store.address,
        });
        dialer.start();
        return dialer;
      });

      mirror.mirrorAllNodes();
      await sync();
      const timer = setInterval(() => void sync(), options.syncIntervalMs ?? 2000);
      timer.unref();
      services.stateStore = {
        store,
        authorizer,
        publisher,
        mirror,
        dir,
        isOperator: async (address) => operators.has(address.toLowerCase()) || (await isAdmitted(address)),
      };
      log.info({ dir, console: store.address }, "state store open");
      return async () => {
        clearInterval(timer);
        for (const dialer of peerDialers) dialer.close();
        await syncing;
        await mirror.close();
        await store.close();
      };
    },
  };
}
