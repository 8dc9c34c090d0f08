// SQLite through node:sqlite, adapted to the better-sqlite3-like interface
// kysely's SqliteDialect expects. Write transactions start with BEGIN IMMEDIATE
// so two processes applying at once queue on SQLite's write lock (busy_timeout)
// instead of failing half-way with SQLITE_BUSY on their first write.
import { DatabaseSync, type SQLInputValue, type StatementSync } from 'node:sqlite';
import {
  CompiledQuery,
  SqliteDialect,
  SqliteDriver,
  type DatabaseConnection,
  type Driver,
  type SqliteDatabase,
  type SqliteStatement,
  type TransactionSettings,
} from 'kysely';

/** How long a writer waits for another process's write transaction before failing. */
export const SQLITE_BUSY_TIMEOUT_MS = 60_000;
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

class ImmediateSqliteDriver extends SqliteDriver {
  override async beginTransaction(connection: DatabaseConnection, settings?: TransactionSettings): Promise<void> {
    // A read-only transaction stays deferred: it takes a snapshot and no write lock.
    const statement = settings?.accessMode === 'read only' ? 'begin' : 'begin immediate';
    await connection.executeQuery(CompiledQuery.raw(statement));
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
  const db = new DatabaseSync(path, { timeout: SQLITE_BUSY_TIMEOUT_MS, enableForeignKeyConstraints: true });
  if (path !== ':memory:') {
    db.exec('PRAGMA journal_mode = WAL');
    // WAL with synchronous NORMAL: a committed apply survives a crash of the process.
    db.exec('PRAGMA synchronous = NORMAL');
  }
  db.exec('PRAGMA foreign_keys = ON');
  db.exec(`PRAGMA busy_timeout = ${SQLITE_BUSY_TIMEOUT_MS}`);
  return new GatehouseSqliteDialect(new NodeSqliteDatabase(db));
}
