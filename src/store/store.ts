// The identity store: one interface, two drivers (SQLite, PostgreSQL), both
// through kysely. A Store hands out transactions; the repository functions in
// this folder take a transaction and do the SQL.
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { Kysely, PostgresDialect, sql, type KyselyPlugin, type Transaction } from 'kysely';
import pg from 'pg';
import { errorMessage } from '../util/errors.js';
import { ensureMigrationsTable, migrate, type StoreDialect } from './migrations.js';
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
  /** For reads outside a transaction. */
  readonly db: Kysely<Database>;
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

export function redactDsn(dsn: string): string {
  try {
    const url = new URL(dsn);
    if (url.password !== '') url.password = '***';
    return url.toString();
  } catch {
    return dsn;
  }
}

class KyselyStore implements Store {
  constructor(
    readonly dialect: StoreDialect,
    readonly location: string,
    readonly db: Kysely<Database>,
    private readonly root: boolean,
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
    return new KyselyStore(this.dialect, this.location, this.db.withPlugin(plugin), false);
  }

  async close(): Promise<void> {
    if (this.root) await this.db.destroy();
  }
}

export interface OpenStoreOptions {
  cwd?: string;
  /** Run migrations on open (default true); a number migrates up to that version only (tests). */
  migrate?: boolean | number;
  /** Instant recorded for applied migrations. */
  at?: Date;
}

/** Opens the store a DSN names and brings its schema up to date. */
export async function openStore(dsn?: string, options: OpenStoreOptions = {}): Promise<Store> {
  const address = parseStoreDsn(dsn, options.cwd);
  let store: Store;
  if (address.dialect === 'sqlite') {
    if (address.path !== ':memory:') {
      try {
        mkdirSync(dirname(address.path), { recursive: true });
      } catch (err) {
        throw new StoreError(`cannot create the folder for the store ${address.path}: ${errorMessage(err)}`, { cause: err });
      }
    }
    let dialect;
    try {
      dialect = openSqliteDialect(address.path);
    } catch (err) {
      throw new StoreError(`cannot open the SQLite store ${address.path}: ${errorMessage(err)}`, { cause: err });
    }
    store = new KyselyStore('sqlite', `sqlite:${address.path}`, new Kysely<Database>({ dialect }), true);
  } else {
    const pool = new pg.Pool({ connectionString: address.url, max: 8 });
    // An idle client losing its server must not crash the process; the next query reports it.
    pool.on('error', () => {});
    const dialect = new PostgresDialect({ pool });
    store = new KyselyStore('postgres', redactDsn(address.url), new Kysely<Database>({ dialect }), true);
  }
  const target = options.migrate ?? true;
  if (target !== false) {
    try {
      await migrateStore(store, options.at ?? new Date(), target === true ? undefined : target);
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
