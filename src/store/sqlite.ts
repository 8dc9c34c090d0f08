// SQLite through node:sqlite, adapted to the better-sqlite3-like interface
// kysely's SqliteDialect expects. Write transactions start with BEGIN IMMEDIATE
// so two processes applying at once queue on SQLite's write lock instead of
// failing half-way with SQLITE_BUSY on their first write. node:sqlite runs on
// the main thread, so SQLite's own busy wait would freeze the event loop
// (probes, the webhook, Lease renewal): it is kept short, and BEGIN IMMEDIATE
// waits for the lock between timers instead.
import { DatabaseSync, type SQLInputValue, type StatementSync } from 'node:sqlite';
import {
  CompiledQuery,
  SqliteDialect,
  SqliteDriver,
  type DatabaseConnection,
  type Driver,
  type QueryResult,
  type SqliteDatabase,
  type SqliteDialectConfig,
  type SqliteStatement,
  type TransactionSettings,
} from 'kysely';

/** How long a writer waits for another process's write transaction before failing. */
export const SQLITE_BUSY_TIMEOUT_MS = 60_000;
/** The longest one statement blocks the thread waiting for a lock (SQLite's busy_timeout). */
export const SQLITE_STATEMENT_BUSY_MS = 20;
const LOCK_RETRY_MIN_MS = 5;
const LOCK_RETRY_MAX_MS = 200;

function isBusy(err: unknown): boolean {
  const code = (err as { errcode?: unknown } | null)?.errcode;
  // SQLITE_BUSY is 5; extended codes keep it in the low byte.
  return (typeof code === 'number' && (code & 0xff) === 5) || (err instanceof Error && /database is locked/i.test(err.message));
}
const STATEMENT_CACHE_SIZE = 256;

function toSqliteValue(value: unknown): SQLInputValue {
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (value instanceof Date) return value.toISOString();
  if (value === undefined) return null;
  return value as SQLInputValue;
}

function bind(parameters: ReadonlyArray<unknown>): SQLInputValue[] {
  return parameters.map(toSqliteValue);
}

/** node:sqlite's DatabaseSync with kysely's SqliteDatabase shape; prepared statements are reused. */
export class NodeSqliteDatabase implements SqliteDatabase {
  readonly #db: DatabaseSync;
  readonly #statements = new Map<string, { stmt: StatementSync; reader: boolean }>();

  constructor(db: DatabaseSync) {
    this.#db = db;
  }

  prepare(sql: string): SqliteStatement {
    let entry = this.#statements.get(sql);
    if (entry === undefined) {
      const stmt = this.#db.prepare(sql);
      entry = { stmt, reader: stmt.columns().length > 0 };
      if (this.#statements.size >= STATEMENT_CACHE_SIZE) {
        const oldest = this.#statements.keys().next().value;
        if (oldest !== undefined) this.#statements.delete(oldest);
      }
      this.#statements.set(sql, entry);
    }
    const { stmt, reader } = entry;
    return {
      reader,
      all: (parameters) => stmt.all(...bind(parameters)),
      run: (parameters) => {
        const result = stmt.run(...bind(parameters));
        return { changes: result.changes, lastInsertRowid: result.lastInsertRowid };
      },
      iterate: (parameters) => stmt.iterate(...bind(parameters)) as IterableIterator<unknown>,
    };
  }

  close(): void {
    this.#statements.clear();
    if (this.#db.isOpen) this.#db.close();
  }
}

/** Rows per chunk when a query streams and its caller names no size. */
const STREAM_CHUNK_ROWS = 1000;

/**
 * Kysely's SQLite connection, streaming rows in chunks: Kysely's own yields one row per
 * step, each through several promises, and a full sync streams every member row. The
 * statement is iterated, so rows are made as they are read, not all at once. A streamed
 * statement is not re-run (same SQL text, same cached statement) until its rows are read.
 */
class ChunkedStreamConnection implements DatabaseConnection {
  constructor(
    readonly inner: DatabaseConnection,
    private readonly database: SqliteDatabase,
  ) {}

  executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
    return this.inner.executeQuery<R>(query);
  }

  async *streamQuery<R>(query: CompiledQuery, chunkSize?: number): AsyncIterableIterator<QueryResult<R>> {
    const size = chunkSize !== undefined && chunkSize > 0 ? chunkSize : STREAM_CHUNK_ROWS;
    const statement = this.database.prepare(query.sql);
    if (!statement.reader) throw new Error('only a query that returns rows can stream them');
    let rows: R[] = [];
    for (const row of statement.iterate(query.parameters)) {
      rows.push(row as R);
      if (rows.length >= size) {
        yield { rows };
        rows = [];
      }
    }
    if (rows.length > 0) yield { rows };
  }
}

class ImmediateSqliteDriver extends SqliteDriver {
  readonly #database: SqliteDatabase;
  #connection: ChunkedStreamConnection | undefined;

  constructor(config: SqliteDialectConfig & { database: SqliteDatabase }) {
    super(config);
    this.#database = config.database;
  }

  override async acquireConnection(): Promise<DatabaseConnection> {
    const inner = await super.acquireConnection();
    if (this.#connection?.inner !== inner) this.#connection = new ChunkedStreamConnection(inner, this.#database);
    return this.#connection;
  }

  override async beginTransaction(connection: DatabaseConnection, settings?: TransactionSettings): Promise<void> {
    // A read-only transaction stays deferred: it takes a snapshot and no write lock.
    const statement = settings?.accessMode === 'read only' ? 'begin' : 'begin immediate';
    const deadline = Date.now() + SQLITE_BUSY_TIMEOUT_MS;
    let pause = LOCK_RETRY_MIN_MS;
    for (;;) {
      try {
        await connection.executeQuery(CompiledQuery.raw(statement));
        return;
      } catch (err) {
        if (!isBusy(err) || Date.now() >= deadline) throw err;
      }
      // Another process holds the write lock: let the event loop run, then try again.
      await new Promise((resolve) => setTimeout(resolve, pause));
      pause = Math.min(pause * 2, LOCK_RETRY_MAX_MS);
    }
  }
}

class GatehouseSqliteDialect extends SqliteDialect {
  readonly #database: SqliteDatabase;
  constructor(database: SqliteDatabase) {
    super({ database });
    this.#database = database;
  }
  override createDriver(): Driver {
    return new ImmediateSqliteDriver({ database: this.#database });
  }
}

/** Opens (creating if needed) a SQLite database file, or ':memory:'. */
export function openSqliteDialect(path: string): SqliteDialect {
  // Opening (switching a new file to WAL) may wait the full time: nothing is served yet.
  const db = new DatabaseSync(path, { timeout: SQLITE_BUSY_TIMEOUT_MS, enableForeignKeyConstraints: true });
  if (path !== ':memory:') {
    db.exec('PRAGMA journal_mode = WAL');
    // WAL with synchronous NORMAL: a committed apply survives a crash of the process.
    db.exec('PRAGMA synchronous = NORMAL');
  }
  db.exec('PRAGMA foreign_keys = ON');
  db.exec(`PRAGMA busy_timeout = ${SQLITE_STATEMENT_BUSY_MS}`);
  return new GatehouseSqliteDialect(new NodeSqliteDatabase(db));
}
