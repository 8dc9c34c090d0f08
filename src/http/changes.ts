// Tells the decision API that the store changed, so its cache is dropped
// within a second of any change, whoever made it. PostgreSQL: LISTEN on the
// channel the store's triggers notify (migration 5). SQLite: the version in
// fact_changes, which triggers move with every change to those same tables
// (migration 9), polled. Other writes (usage counts, audit entries) keep the cache.
import pg from 'pg';
import type { Store } from '../store/store.js';
import { errorMessage } from '../util/errors.js';
import type { Logger } from '../util/log.js';

export const STORE_CHANGED_CHANNEL = 'gatehouse_store_changed';
/** How often SQLite's fact version is read; well inside the one-second bar. */
export const SQLITE_POLL_MS = 200;
const RECONNECT_MS = 1000;

export interface ChangeWatcher {
  /** False while changes could be missed (the listener is reconnecting): do not cache then. */
  readonly watching: boolean;
  close(): Promise<void>;
}

export interface ChangeWatcherOptions {
  store: Store;
  /** The PostgreSQL DSN (a LISTEN needs its own connection). */
  dsn?: string;
  onChange: () => void;
  /** Called when watching stops or starts again. */
  onWatching?: (watching: boolean) => void;
  logger?: Logger;
}

export async function watchStoreChanges(options: ChangeWatcherOptions): Promise<ChangeWatcher> {
  return options.store.dialect === 'sqlite' ? watchSqlite(options) : watchPostgres(options);
}

async function factVersion(store: Store): Promise<number> {
  const row = await store.db.selectFrom('fact_changes').select('version').where('id', '=', 1).executeTakeFirstOrThrow();
  return Number(row.version);
}

async function watchSqlite({ store, onChange, logger }: ChangeWatcherOptions): Promise<ChangeWatcher> {
  let last = await factVersion(store);
  let busy = false;
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    factVersion(store)
      .then((version) => {
        if (version !== last) {
          last = version;
          onChange();
        }
      })
      .catch((err: unknown) => {
        logger?.warn({ err: errorMessage(err) }, 'cannot read the store change counter; dropping the cache');
        onChange();
      })
      .finally(() => {
        busy = false;
      });
  }, SQLITE_POLL_MS);
  timer.unref();
  return {
    watching: true,
    async close() {
      clearInterval(timer);
    },
  };
}

async function watchPostgres({ dsn, onChange, onWatching, logger }: ChangeWatcherOptions): Promise<ChangeWatcher> {
  if (dsn === undefined) throw new Error('watching a PostgreSQL store for changes needs its DSN');
  let client: pg.Client | undefined;
  let closed = false;
  let reconnect: NodeJS.Timeout | undefined;
  const state = { watching: false };
  const setWatching = (watching: boolean) => {
    if (state.watching === watching) return;
    state.watching = watching;
    onWatching?.(watching);
  };
  const connect = async (): Promise<void> => {
    const next = new pg.Client({ connectionString: dsn });
    next.on('notification', () => onChange());
    next.on('error', (err) => {
      logger?.warn({ err: errorMessage(err) }, 'lost the store change listener; reading the store on every request until it is back');
      setWatching(false);
      onChange();
      next.end().catch(() => {});
      schedule();
    });
    await next.connect();
    await next.query(`LISTEN ${STORE_CHANGED_CHANNEL}`);
    client = next;
    // Whatever changed while not listening is not known: start from a clean cache.
    onChange();
    setWatching(true);
  };
  const schedule = () => {
    if (closed || reconnect !== undefined) return;
    reconnect = setTimeout(() => {
      reconnect = undefined;
      connect().catch(() => schedule());
    }, RECONNECT_MS);
    reconnect.unref();
  };
  await connect();
  return {
    get watching() {
      return state.watching;
    },
    async close() {
      closed = true;
      if (reconnect !== undefined) clearTimeout(reconnect);
      await client?.end().catch(() => {});
    },
  };
}
