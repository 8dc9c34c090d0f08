// Store hardening: readers never migrate or wait for the write lock and work
// with a SELECT-only role (finding 5); SQLite files are private and waiting for
// SQLite's write lock leaves the event loop running (finding 6); a DSN's
// password never reaches a message (finding 7).
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { DatabaseSync } from 'node:sqlite';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { stringify } from 'yaml';
import { aMember, aWorkspace } from '../src/rules/testing/builders.js';
import { openStore, POSTGRES_WRITE_LOCK_KEY, redactDsn } from '../src/store/store.js';
import { gatehouse } from './support/cli.js';
import { syncAll } from './support/engine.js';
import { createDatabase, createSchema } from './support/postgres.js';

const T0 = '2026-06-01T00:00:00.000Z';
const available = inject('postgres');
const pgSkip = available.url === undefined ? ` skipped: ${available.skipReason ?? 'no PostgreSQL server'}` : '';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-hardening-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function mode(path: string): number {
  return statSync(path).mode & 0o777;
}

describe.skipIf(available.url === undefined)(`finding 5: readers on PostgreSQL${pgSkip}`, () => {
  let dsn: string;
  let schema: string;
  beforeAll(async () => {
    schema = 'store';
    dsn = await createSchema(await createDatabase(available.url as string, `readers_${process.pid}_${Date.now().toString(36)}`), schema);
    const store = await openStore(dsn);
    await syncAll(store, [aWorkspace({ spec: { admins: { min: 0, max: 1 } } }), aMember({ name: 'alice' })], T0);
    await store.close();
  });

  it('get members and audit --verify answer while another process holds the write lock', async () => {
    const holder = new pg.Client({ connectionString: dsn });
    await holder.connect();
    try {
      await holder.query('select pg_advisory_lock($1)', [POSTGRES_WRITE_LOCK_KEY]);
      const [members, verified] = await Promise.all([
        gatehouse(['get', 'members', '--store', dsn, '-o', 'json']),
        gatehouse(['audit', '--verify', '--store', dsn]),
      ]);
      expect(members.code, members.stderr).toBe(0);
      expect(JSON.parse(members.stdout)).toHaveLength(1);
      expect(verified.code, verified.stderr).toBe(0);
    } finally {
      await holder.end();
    }
  });

  it('get members works for a SELECT-only role; apply as that role fails naming the store', async () => {
    const reader = `reader_${randomBytes(4).toString('hex')}`;
    const admin = new pg.Client({ connectionString: dsn });
    await admin.connect();
    try {
      await admin.query(`create role ${reader} login`);
      await admin.query(`grant usage on schema "${schema}" to ${reader}`);
      await admin.query(`grant select on all tables in schema "${schema}" to ${reader}`);
    } finally {
      await admin.end();
    }
    const url = new URL(dsn);
    url.username = reader;
    const members = await gatehouse(['get', 'members', '--store', url.toString()]);
    expect(members.code, members.stderr).toBe(0);
    expect(members.stdout).toMatch(/alice@acme\.example/i);
    const decl = join(dir, 'decl-reader');
    mkdirSync(decl);
    writeFileSync(join(decl, 'acme.yaml'), [aWorkspace({ spec: { admins: { min: 0, max: 1 } } }), aMember({ name: 'bob' })].map((o) => stringify(o)).join('---\n'));
    const applied = await gatehouse(['apply', decl, '--store', url.toString(), '--at', T0]);
    expect(applied.code).toBe(1);
    expect(applied.stderr).toMatch(/permission denied/);
  });
});

describe('finding 5: readers on SQLite', () => {
  it('get refuses an older schema without migrating it, and says how to', async () => {
    const path = join(dir, 'old.db');
    const old = await openStore(`sqlite:${path}`, { migrate: 3 });
    await old.close();
    const run = await gatehouse(['get', 'members', '--store', path]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/older than this Gatehouse needs .*run gatehouse apply/);
    const check = new DatabaseSync(path);
    try {
      expect(check.prepare('select count(*) as n from gatehouse_schema_migrations').get()).toEqual({ n: 3 });
    } finally {
      check.close();
    }
  });
});

describe('finding 6: SQLite files', () => {
  it('creates the folder 0700 and the database, WAL and shared-memory files 0600', async () => {
    const folder = join(dir, 'private', 'nested');
    const path = join(folder, 'store.db');
    const store = await openStore(`sqlite:${path}`);
    try {
      await syncAll(store, [aWorkspace({ spec: { admins: { min: 0, max: 1 } } }), aMember({ name: 'alice' })], T0);
      expect(mode(folder).toString(8)).toBe('700');
      expect(mode(join(dir, 'private')).toString(8)).toBe('700');
      for (const file of [path, `${path}-wal`, `${path}-shm`]) expect([file, mode(file).toString(8)]).toEqual([file, '600']);
    } finally {
      await store.close();
    }
  });

  it('tightens a database file an older Gatehouse left world-readable', async () => {
    const path = join(dir, 'loose.db');
    await (await openStore(`sqlite:${path}`)).close();
    chmodSync(path, 0o644);
    const store = await openStore(`sqlite:${path}`);
    await store.close();
    expect(mode(path).toString(8)).toBe('600');
  });

  it('waits for another connection\'s write lock without blocking the event loop', async () => {
    const path = join(dir, 'locked.db');
    const store = await openStore(`sqlite:${path}`);
    const other = new DatabaseSync(path);
    try {
      other.exec('begin immediate');
      let ticks = 0;
      const ticker = setInterval(() => (ticks += 1), 5);
      // The lock is released from a timer: the write can only finish if timers run while it waits.
      const release = setTimeout(() => other.exec('commit'), 300);
      try {
        await store.write(async (trx) => {
          await sql`insert into permissions (permission_id, display_name, description, access, sensitive, administrative, legacy) values ('x', 'x', 'x', 'read', 0, 0, 0)`.execute(trx);
        });
      } finally {
        clearInterval(ticker);
        clearTimeout(release);
      }
      expect(ticks).toBeGreaterThan(5);
      const row = await store.db.selectFrom('permissions').select('permission_id').where('permission_id', '=', 'x').executeTakeFirst();
      expect(row).toEqual({ permission_id: 'x' });
    } finally {
      if (other.isTransaction) other.exec('rollback');
      other.close();
      await store.close();
    }
  });
});

describe('finding 7: DSN passwords', () => {
  const cases: Array<[string, string]> = [
    ['postgres://gatehouse:pa#ss/w0rd@db.internal:5432/gatehouse', 'pa#ss/w0rd'],
    ['postgres://gatehouse:p@ss?w0rd@db.internal:5432/gatehouse', 'p@ss?w0rd'],
    ['postgres://gatehouse:se/cret@db.internal/gatehouse', 'se/cret'],
    ['postgres://gatehouse:plain-s3cret@db.internal/gatehouse', 'plain-s3cret'],
    ['postgres://gatehouse@db.internal/gatehouse?password=q-s3cret', 'q-s3cret'],
    ['postgres://gatehouse:s3cret@[::1:5432/gatehouse', 's3cret'],
    ['mysql://gatehouse:my-s3cret@db/gatehouse', 'my-s3cret'],
  ];

  /** Every 3-character piece of the password: half a password is a leak too. */
  function pieces(password: string): string[] {
    return Array.from({ length: password.length - 2 }, (_, i) => password.slice(i, i + 3));
  }

  it.each(cases)('redactDsn(%j) shows no piece of the password', (dsn, password) => {
    const shown = redactDsn(dsn);
    for (const piece of pieces(password)) expect(shown).not.toContain(piece);
    expect(shown).not.toBe(dsn);
  });

  it.each(cases)('opening %j fails without a piece of the password in the message', async (dsn, password) => {
    let message = '';
    try {
      const store = await openStore(dsn);
      await store.close();
    } catch (err) {
      message = err instanceof Error ? `${err.message} ${String(err.cause ?? '')}` : String(err);
    }
    expect(message).not.toBe('');
    for (const piece of pieces(password)) expect(message).not.toContain(piece);
  });

  it('keeps the user, host and database of a readable DSN', () => {
    expect(redactDsn('postgres://gatehouse:s3cret@db.internal:5432/gatehouse')).toBe('postgres://gatehouse:***@db.internal:5432/gatehouse');
  });
});
