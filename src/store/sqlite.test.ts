import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kysely, sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSqliteDialect } from './sqlite.js';

interface Numbers {
  numbers: { n: number; label: string };
}

describe('SQLite streams rows in chunks', () => {
  let dir: string;
  let db: Kysely<Numbers>;
  const ROWS = 25;
  const all = [...Array(ROWS).keys()].map((n) => ({ n, label: `row ${n}` }));
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-sqlite-stream-'));
    db = new Kysely<Numbers>({ dialect: openSqliteDialect(join(dir, 'stream.db')) });
    await sql`create table numbers (n integer primary key, label text not null)`.execute(db);
    await db.insertInto('numbers').values(all).execute();
  });
  afterAll(async () => {
    await db.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  const read = async (source: Kysely<Numbers>, chunkSize: number | undefined) => {
    const rows: Array<{ n: number; label: string }> = [];
    for await (const row of source.selectFrom('numbers').selectAll().orderBy('n').stream(chunkSize)) rows.push(row);
    return rows;
  };

  it.each([
    ['one row at a time', 1],
    ['chunks that do not divide the rows', 7],
    ['a chunk the size of the rows', ROWS],
    ['a chunk larger than the rows', 1000],
    ['the default chunk', undefined],
  ])('every row, in order, with %s', async (_name, chunkSize) => {
    expect(await read(db, chunkSize)).toEqual(all);
  });

  it('streams inside a transaction, seeing its own writes', async () => {
    await db
      .transaction()
      .execute(async (trx) => {
        await trx.insertInto('numbers').values({ n: ROWS, label: 'in the transaction' }).execute();
        const seen: number[] = [];
        for await (const row of trx.selectFrom('numbers').select('n').where('n', '>=', ROWS - 2).orderBy('n').stream(2)) seen.push(row.n);
        expect(seen).toEqual([ROWS - 2, ROWS - 1, ROWS]);
        throw new Error('roll back');
      })
      .catch((err: Error) => expect(err.message).toBe('roll back'));
    expect(await read(db, 10)).toEqual(all);
  });

  it('leaves the connection usable when the reader stops early', async () => {
    for await (const row of db.selectFrom('numbers').selectAll().orderBy('n').stream(4)) if (row.n === 5) break;
    expect(await read(db, 3)).toEqual(all);
  });
});
