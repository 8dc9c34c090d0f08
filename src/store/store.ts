// The identity store: one interface, two drivers (SQLite, PostgreSQL), both
// through kysely. A Store hands out transactions; the repository functions in
// this folder take a transaction and do the SQL.
import { chmodSync, closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { Kysely, PostgresDialect, sql, type KyselyPlugin, type Transaction } from 'kysely';
import pg from 'pg';
import { errorMessage } from '../util/errors.js';
import type { AuditKeyring } from './audit-key.js';
import { checkSchemaVersion, ensureMigrationsTable, migrate, type StoreDialect } from './migrations.js';
import type { Database } from './schema.js';
import { openSqliteDialect } from './sqlite.js';

export type { StoreDialect };

/** Where the store lives when none is named: a SQLite file under the working directory. */
export const DEFAULT_SQLITE_PATH = '.gatehouse/gatehouse.db';
export const STORE_ENV = 'GATEHOUSE_STORE';

/** Key of PostgreSQL's transaction-level advisory lock that serialises writers ("gatehouse"). */
export const POSTGRES_WRITE_LOCK_KEY = 0x67617465686f;

export interface Store {
  readonly dialect: StoreDialect;
  /** Where the store is, for messages; never includes a password. */
  readonly location: string;
  /** The SQLite file, when the store is one (not in memory): a second connection, such as a write worker's, opens it. */
  readonly sqliteFile?: string;
  /** For reads outside a transaction. */
  readonly db: Kysely<Database>;
  /** The audit key new entries are signed with; absent when none is configured. */
  readonly auditKeys?: AuditKeyring;
  /**
   * Runs `fn` in one transaction holding the store's write lock (PostgreSQL:
   * an advisory lock; SQLite: BEGIN IMMEDIATE). Writers queue; readers do not wait.
   * An error rolls everything back.
   */
  write<T>(fn: (trx: Transaction<Database>) => Promise<T>): Promise<T>;
  /** Runs `fn` in a read-only transaction that sees one consistent snapshot. */
  read<T>(fn: (trx: Transaction<Database>) => Promise<T>): Promise<T>;
  /** The same store seen through a kysely plugin (tests count or fail statements with it). */
  withPlugin(plugin: KyselyPlugin): Store;
  close(): Promise<void>;
}

export class StoreError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'StoreError';
  }
}

export type StoreAddress =
  | { dialect: 'sqlite'; path: string }
  | { dialect: 'postgres'; url: string };

/**
 * Reads a store DSN: `postgres://…` or `postgresql://…` is PostgreSQL;
 * `sqlite:PATH`, a plain path or nothing is a SQLite file (`:memory:` works).
 */
export function parseStoreDsn(dsn: string | undefined, cwd: string = process.cwd()): StoreAddress {
  const text = dsn?.trim() ?? '';
  if (text === '') return { dialect: 'sqlite', path: resolve(cwd, DEFAULT_SQLITE_PATH) };
  if (/^postgres(ql)?:\/\//i.test(text)) return { dialect: 'postgres', url: text };
  let path = text;
  if (/^sqlite:/i.test(path)) {
    path = path.slice('sqlite:'.length);
    if (path.startsWith('//')) path = path.slice(2);
  } else if (/^[a-z][a-z0-9+.-]*:\/\//i.test(path)) {
    throw new StoreError(
      `unknown store "${redactDsn(text)}": use postgres://USER@HOST:PORT/DB, sqlite:PATH or a file path`,
    );
  }
  if (path === '') throw new StoreError(`store "${text}" names no file: write sqlite:PATH or sqlite::memory:`);
  return { dialect: 'sqlite', path: path === ':memory:' ? path : resolve(cwd, path) };
}

/** The DSN to use: the flag, else GATEHOUSE_STORE, else the default SQLite file. */
export function storeDsnFrom(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string | undefined {
  return flag ?? (env[STORE_ENV] !== undefined && env[STORE_ENV] !== '' ? env[STORE_ENV] : undefined);
}

/**
 * The DSN as a URL, or undefined when it does not parse or parses in a way
 * that shows a password with unencoded `#`, `/`, `?` or `@` was split (part
 * of it would land in the host, path or query, and in error messages).
 */
function readableDsn(dsn: string): URL | undefined {
  let url: URL;
  try {
    url = new URL(dsn);
  } catch {
    return undefined;
  }
  if (url.search.includes('@') || url.hash !== '' || url.pathname.includes('@')) return undefined;
  return url;
}

/** Query parameters libpq reads secrets from. */
const SECRET_PARAMETERS = new Set(['password', 'sslpassword', 'sslkey', 'passfile']);

/**
 * The DSN with its password hidden, for messages. A DSN that does not parse
 * as a URL, or whose parse looks wrong (a password holding `#`, `/`, `?` or
 * `@` that was not percent-encoded splits in odd places), is never echoed:
 * only its scheme is kept.
 */
export function redactDsn(dsn: string): string {
  const url = readableDsn(dsn);
  if (url === undefined) {
    const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(dsn)?.[1] ?? 'store';
    return `${scheme}://(unreadable DSN hidden: percent-encode special characters in the password)`;
  }
  if (url.password !== '') url.password = '***';
  for (const key of [...url.searchParams.keys()]) {
    if (SECRET_PARAMETERS.has(key.toLowerCase())) url.searchParams.set(key, '***');
  }
  return url.toString();
}

class KyselyStore implements Store {
  constructor(
    readonly dialect: StoreDialect,
    readonly location: string,
    readonly db: Kysely<Database>,
    private readonly root: boolean,
    readonly auditKeys?: AuditKeyring,
    readonly sqliteFile?: string,
  ) {}

  async write<T>(fn: (trx: Transaction<Database>) => Promise<T>): Promise<T> {
    return this.db.transaction().execute(async (trx) => {
      if (this.dialect === 'postgres') {
        await sql`select pg_advisory_xact_lock(${POSTGRES_WRITE_LOCK_KEY})`.execute(trx);
      }
      return fn(trx);
    });
  }

  async read<T>(fn: (trx: Transaction<Database>) => Promise<T>): Promise<T> {
    let builder = this.db.transaction().setAccessMode('read only');
    if (this.dialect === 'postgres') builder = builder.setIsolationLevel('repeatable read');
    return builder.execute(fn);
  }

  withPlugin(plugin: KyselyPlugin): Store {
    return new KyselyStore(this.dialect, this.location, this.db.withPlugin(plugin), false, this.auditKeys, this.sqliteFile);
  }

  async close(): Promise<void> {
    if (this.root) await this.db.destroy();
  }
}

export interface OpenStoreOptions {
  cwd?: string;
  /**
   * Run migrations on open (default true; only writers: apply and run); a
   * number migrates up to that version only (tests); `check` takes no lock
   * and changes nothing, it only refuses a schema that is not this build's
   * (readers: get, audit, plan), so a SELECT-only role can read.
   */
  migrate?: boolean | number | 'check';
  /** Instant recorded for applied migrations. */
  at?: Date;
  /** Signs the audit entries this store appends. */
  auditKeys?: AuditKeyring;
}

/**
 * PostgreSQL connection settings: a lost server, a stuck lock or a
 * transaction left open become errors after a bounded wait (the operator
 * retries them with backoff), and TCP keepalive notices a dead peer.
 */
export const POSTGRES_TIMEOUTS = {
  connectionTimeoutMillis: 10_000,
  statementTimeoutMillis: 120_000,
  lockTimeoutMillis: 60_000,
  idleInTransactionTimeoutMillis: 60_000,
  keepAliveInitialDelayMillis: 10_000,
} as const;

/** Creates the SQLite file's folder (0700 when new) and the file (0600): they hold tokens, emails and phones. */
function prepareSqliteFile(path: string): void {
  try {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  } catch (err) {
    throw new StoreError(`cannot create the folder for the store ${path}: ${errorMessage(err)}`, { cause: err });
  }
  try {
    if (!existsSync(path)) closeSync(openSync(path, 'a', 0o600));
    // Tighten a file an older Gatehouse created 0644; SQLite gives its -wal and -shm files the same mode.
    chmodSync(path, 0o600);
  } catch (err) {
    throw new StoreError(`cannot create the SQLite store ${path} readable only by its owner: ${errorMessage(err)}`, { cause: err });
  }
}

/** Opens the store a DSN names and brings its schema up to date (or, with `migrate: 'check'`, checks it). */
export async function openStore(dsn?: string, options: OpenStoreOptions = {}): Promise<Store> {
  const address = parseStoreDsn(dsn, options.cwd);
  let store: Store;
  if (address.dialect === 'sqlite') {
    if (address.path !== ':memory:') prepareSqliteFile(address.path);
    let dialect;
    try {
      dialect = openSqliteDialect(address.path);
    } catch (err) {
      throw new StoreError(`cannot open the SQLite store ${address.path}: ${errorMessage(err)}`, { cause: err });
    }
    store = new KyselyStore('sqlite', `sqlite:${address.path}`, new Kysely<Database>({ dialect }), true, options.auditKeys, address.path === ':memory:' ? undefined : address.path);
  } else {
    const location = redactDsn(address.url);
    if (readableDsn(address.url) === undefined) {
      // Connecting would put pieces of the password into host names and error messages.
      throw new StoreError(`cannot read the PostgreSQL DSN ${location}; write it as postgres://USER:PASSWORD@HOST:PORT/DB`);
    }
    let pool: pg.Pool;
    try {
      pool = new pg.Pool({
        connectionString: address.url,
        max: 8,
        connectionTimeoutMillis: POSTGRES_TIMEOUTS.connectionTimeoutMillis,
        statement_timeout: POSTGRES_TIMEOUTS.statementTimeoutMillis,
        lock_timeout: POSTGRES_TIMEOUTS.lockTimeoutMillis,
        idle_in_transaction_session_timeout: POSTGRES_TIMEOUTS.idleInTransactionTimeoutMillis,
        keepAlive: true,
        keepAliveInitialDelayMillis: POSTGRES_TIMEOUTS.keepAliveInitialDelayMillis,
      });
    } catch {
      // pg's own parse errors may quote the DSN: never pass them on.
      throw new StoreError(`cannot read the PostgreSQL DSN ${location}: percent-encode special characters in the password`);
    }
    // A client losing its server (failover, pg_terminate_backend, a restart)
    // emits 'error'; the query in flight, if any, rejects with the same error
    // and fails the transaction. Without a listener the event would end the
    // process, so every client gets one for its whole life, not only while idle.
    pool.on('error', () => {});
    pool.on('connect', (client) => {
      client.on('error', () => {});
    });
    const dialect = new PostgresDialect({ pool });
    store = new KyselyStore('postgres', location, new Kysely<Database>({ dialect }), true, options.auditKeys);
  }
  const target = options.migrate ?? true;
  if (target !== false) {
    try {
      if (target === 'check') await checkSchemaVersion(store.db);
      else await migrateStore(store, options.at ?? new Date(), target === true ? undefined : target);
    } catch (err) {
      await store.close().catch(() => {});
      if (err instanceof StoreError) throw err;
      throw new StoreError(`cannot prepare the identity store ${store.location}: ${errorMessage(err)}`, { cause: err });
    }
  }
  return store;
}

/** Applies pending migrations (up to `target`) in one write transaction. */
export async function migrateStore(store: Store, at: Date = new Date(), target?: number): Promise<number[]> {
  return store.write(async (trx) => {
    await ensureMigrationsTable(trx, store.dialect);
    return migrate(trx, store.dialect, at, target);
  });
}
