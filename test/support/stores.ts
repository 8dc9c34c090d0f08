// Fresh identity stores for tests, on SQLite (a temporary file) and on the
// run's PostgreSQL server (a database per test file, a schema per store), so
// one suite runs on both through `forEachDialect`.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, inject } from 'vitest';
import { openStore, type OpenStoreOptions, type Store } from '../../src/store/store.js';
import { createDatabase, createSchema } from './postgres.js';

export interface DialectCase {
  name: 'sqlite' | 'postgres';
  /** Why this dialect cannot run here (its tests are skipped, by name). */
  skipReason?: string;
  /** A DSN for a new, empty store (not opened). */
  newDsn(): Promise<string>;
  /** A new store, migrated (or up to `options.migrate`). */
  open(options?: OpenStoreOptions): Promise<Store>;
}

let tempDir: string | undefined;
let counter = 0;

function sqliteTempDir(): string {
  if (tempDir === undefined) {
    tempDir = mkdtempSync(join(tmpdir(), 'gatehouse-store-test-'));
    process.once('exit', () => rmSync(tempDir as string, { recursive: true, force: true }));
  }
  return tempDir;
}

const sqlite: DialectCase = {
  name: 'sqlite',
  async newDsn() {
    counter += 1;
    return `sqlite:${join(sqliteTempDir(), `store-${counter}.db`)}`;
  },
  async open(options) {
    return openStore(await this.newDsn(), options);
  },
};

let database: Promise<string> | undefined;

function postgresCase(): DialectCase {
  const provided = inject('postgres');
  const base = {
    name: 'postgres' as const,
    async newDsn(): Promise<string> {
      if (provided.url === undefined) throw new Error(`PostgreSQL is not available: ${provided.skipReason}`);
      const admin = provided.url;
      database ??= createDatabase(admin, `gatehouse_${process.pid}_${Date.now().toString(36)}_${Math.floor(Math.random() * 1e6)}`);
      counter += 1;
      return createSchema(await database, `store_${counter}`);
    },
    async open(options?: OpenStoreOptions): Promise<Store> {
      return openStore(await this.newDsn(), options);
    },
  };
  return provided.url === undefined ? { ...base, skipReason: provided.skipReason ?? 'no PostgreSQL server' } : base;
}

export function dialects(): DialectCase[] {
  return [sqlite, postgresCase()];
}

/** Declares `fn`'s suite once per dialect; a dialect that cannot run is skipped with its reason in the name. */
export function forEachDialect(title: string, fn: (dialect: DialectCase) => void): void {
  for (const dialect of dialects()) {
    const name = dialect.skipReason === undefined ? `${title} [${dialect.name}]` : `${title} [${dialect.name}] skipped: ${dialect.skipReason}`;
    describe.skipIf(dialect.skipReason !== undefined)(name, () => fn(dialect));
  }
}
