import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterAll, describe, expect, it } from 'vitest';
import { SQLITE_WRITER_NICENESS, SQLITE_WRITER_THREAD_NAME, SqliteWriteWorker } from './sqlite-write-worker.js';

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-write-worker-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function aDatabase(name: string): { file: string; rows(): unknown[] } {
  const file = join(dir, name);
  const db = new DatabaseSync(file);
  db.exec("PRAGMA journal_mode = WAL; create table t (k text primary key, n integer not null check (n >= 0))");
  db.close();
  return {
    file,
    rows: () => {
      const reader = new DatabaseSync(file, { readOnly: true });
      try {
        return reader.prepare('select k, n from t order by k').all().map((r) => ({ ...r }));
      } finally {
        reader.close();
      }
    },
  };
}

const INSERT = 'insert into t (k, n) values (?, ?)';

/** Nice values of this process's threads with the name, from /proc (field 19 of each thread's stat). */
function nicenessOfThreads(name: string): number[] {
  return readdirSync('/proc/self/task')
    .filter((tid) => readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim() === name)
    .map((tid) => Number(readFileSync(`/proc/self/task/${tid}/stat`, 'utf8').split(') ')[1]?.split(' ')[16]));
}

describe('SqliteWriteWorker', () => {
  it('writes each batch in one transaction on its own connection', async () => {
    const db = aDatabase('ok.db');
    const worker = new SqliteWriteWorker(db.file);
    await worker.run({ sql: INSERT, width: 2, values: ['a', 1, 'b', 2] });
    await worker.run({ sql: INSERT, width: 2, values: ['c', 3] });
    await worker.close();
    expect(db.rows()).toEqual([{ k: 'a', n: 1 }, { k: 'b', n: 2 }, { k: 'c', n: 3 }]);
  });

  it('writes the columns named as instants as RFC 3339 text, and the others as given', async () => {
    const file = join(dir, 'instants.db');
    const setup = new DatabaseSync(file);
    setup.exec('PRAGMA journal_mode = WAL; create table u (k text primary key, first text not null, n integer not null, last text not null)');
    setup.close();
    const worker = new SqliteWriteWorker(file);
    const at = Date.parse('2026-06-01T12:30:00.250Z');
    await worker.run({ sql: 'insert into u (k, first, n, last) values (?, ?, ?, ?)', width: 4, values: ['a', at, 7, at + 1000, 'b', at + 60_000, 8, at + 120_000], instants: [1, 3] });
    await worker.close();
    const reader = new DatabaseSync(file, { readOnly: true });
    expect(reader.prepare('select k, first, n, last from u order by k').all().map((r) => ({ ...r }))).toEqual([
      { k: 'a', first: '2026-06-01T12:30:00.250Z', n: 7, last: '2026-06-01T12:30:01.250Z' },
      { k: 'b', first: '2026-06-01T12:31:00.250Z', n: 8, last: '2026-06-01T12:32:00.250Z' },
    ]);
    reader.close();
  });

  it('writes nothing of a batch with a failing row, says why, and goes on with the next batch', async () => {
    const db = aDatabase('rollback.db');
    const worker = new SqliteWriteWorker(db.file);
    await expect(worker.run({ sql: INSERT, width: 2, values: ['a', 1, 'b', -1] })).rejects.toThrow(/SQLite write to .*rollback\.db failed: .*CHECK constraint/);
    await worker.run({ sql: INSERT, width: 2, values: ['c', 3] });
    await worker.close();
    expect(db.rows()).toEqual([{ k: 'c', n: 3 }]);
  });

  it.skipIf(process.platform !== 'linux')('runs at the lowest CPU priority, and the threads around it do not', async () => {
    const db = aDatabase('niceness.db');
    const worker = new SqliteWriteWorker(db.file);
    await worker.run({ sql: INSERT, width: 2, values: ['a', 1] });
    expect(nicenessOfThreads(SQLITE_WRITER_THREAD_NAME)).toEqual([SQLITE_WRITER_NICENESS]);
    expect(nicenessOfThreads('MainThread')).toEqual([0]);
    await worker.close();
  });

  it('fails the write when the file cannot be opened, and starts a new thread for the next one', async () => {
    const missing = join(dir, 'no-such-folder', 'x.db');
    const worker = new SqliteWriteWorker(missing);
    await expect(worker.run({ sql: INSERT, width: 2, values: ['a', 1] })).rejects.toThrow(/SQLite writer for .*x\.db stopped/);
    await expect(worker.run({ sql: INSERT, width: 2, values: ['a', 1] })).rejects.toThrow(/stopped/);
    await worker.close();
  });
});
