import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterAll, describe, expect, it } from 'vitest';
import { SqliteWriteWorker } from './sqlite-write-worker.js';

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

describe('SqliteWriteWorker', () => {
  it('writes each batch in one transaction on its own connection', async () => {
    const db = aDatabase('ok.db');
    const worker = new SqliteWriteWorker(db.file);
    await worker.run({ sql: INSERT, rows: [['a', 1], ['b', 2]] });
    await worker.run({ sql: INSERT, rows: [['c', 3]] });
    await worker.close();
    expect(db.rows()).toEqual([{ k: 'a', n: 1 }, { k: 'b', n: 2 }, { k: 'c', n: 3 }]);
  });

  it('writes nothing of a batch with a failing row, says why, and goes on with the next batch', async () => {
    const db = aDatabase('rollback.db');
    const worker = new SqliteWriteWorker(db.file);
    await expect(worker.run({ sql: INSERT, rows: [['a', 1], ['b', -1]] })).rejects.toThrow(/SQLite write to .*rollback\.db failed: .*CHECK constraint/);
    await worker.run({ sql: INSERT, rows: [['c', 3]] });
    await worker.close();
    expect(db.rows()).toEqual([{ k: 'c', n: 3 }]);
  });

  it('fails the write when the file cannot be opened, and starts a new thread for the next one', async () => {
    const missing = join(dir, 'no-such-folder', 'x.db');
    const worker = new SqliteWriteWorker(missing);
    await expect(worker.run({ sql: INSERT, rows: [['a', 1]] })).rejects.toThrow(/SQLite writer for .*x\.db stopped/);
    await expect(worker.run({ sql: INSERT, rows: [['a', 1]] })).rejects.toThrow(/stopped/);
    await worker.close();
  });
});
