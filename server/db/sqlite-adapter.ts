import { PrismaBetterSQLite3 } from "@prisma/adapter-better-sqlite3";

type TAdapter = Awaited<ReturnType<PrismaBetterSQLite3["connect"]>>;
type TTransaction = Awaited<ReturnType<TAdapter["startTransaction"]>>;

/** A FIFO lock: one holder at a time, in the order they asked. */
class Lock {
  #tail: Promise<void> = Promise.resolve();

  /** Resolves with the release function once every earlier holder released. */
  acquire(): Promise<() => void> {
    let release!: () => void;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const turn = this.#tail.then(() => release);
    this.#tail = this.#tail.then(() => held);
    return turn;
  }
}

/**
 * The connection takes one statement or one transaction at a time. better-sqlite3 is a single
 * connection, and Prisma's adapter only keeps transactions from overlapping each other: a plain
 * statement of another request issued while an interactive transaction is open ran INSIDE that
 * transaction, saw its uncommitted rows and was lost with its rollback. Here every statement
 * outside a transaction waits for the open one to commit or roll back.
 */
function serialized(adapter: TAdapter): TAdapter {
  const lock = new Lock();
  async function exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const release = await lock.acquire();
    try {
      return await fn();
    } finally {
      release();
    }
  }
  const info = adapter.getConnectionInfo?.bind(adapter);
  return {
    provider: adapter.provider,
    adapterName: adapter.adapterName,
    queryRaw: (query) => exclusive(() => adapter.queryRaw(query)),
    executeRaw: (query) => exclusive(() => adapter.executeRaw(query)),
    executeScript: (script) => exclusive(() => adapter.executeScript(script)),
    ...(info ? { getConnectionInfo: info } : {}),
    dispose: () => adapter.dispose(),
    async startTransaction(isolationLevel) {
      const release = await lock.acquire();
      let tx: TTransaction;
      try {
        tx = await adapter.startTransaction(isolationLevel);
      } catch (error) {
        release();
        throw error;
      }
      // The transaction's own statements run under the lock it holds until it ends.
      return {
        provider: tx.provider,
        adapterName: tx.adapterName,
        options: tx.options,
        queryRaw: (query) => tx.queryRaw(query),
        executeRaw: (query) => tx.executeRaw(query),
        commit: () => tx.commit().finally(release),
        rollback: () => tx.rollback().finally(release),
      };
    },
  };
}

/** Prisma's better-sqlite3 adapter factory whose connections run one statement or transaction at a time. */
export class SerializedSqliteAdapter extends PrismaBetterSQLite3 {
  override async connect(): Promise<TAdapter> {
    return serialized(await super.connect());
  }
}
