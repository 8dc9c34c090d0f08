// Multi-row INSERTs without kysely's per-value query building: for thousands
// of rows, building and compiling the query costs more than SQLite takes to
// store them (measured: 10,000 member rows in ~690 ms through the query
// builder, ~260 ms this way). The statement text is made once per table,
// columns, row count and dialect; values go in as parameters. Statements still
// run through the store's executor, so plugins see their results (tests count
// and fail them).
import { CompiledQuery, type Kysely } from 'kysely';
import type { Database } from './schema.js';

/** Rows per INSERT: under SQLite's and PostgreSQL's parameter limits for our widest table. */
export const ROWS_PER_INSERT = 500;

type Placeholders = 'question' | 'dollar';

const texts = new Map<string, string>();

function placeholdersOf(db: Kysely<Database>): Placeholders {
  const compiled = db.selectFrom('audit_head').select('id').where('id', '=', 1).compile();
  return compiled.sql.includes('$1') ? 'dollar' : 'question';
}

function quote(identifier: string): string {
  return `"${identifier.replace(/"/g, '""')}"`;
}

function insertText(table: string, columns: readonly string[], rows: number, style: Placeholders): string {
  const key = `${style}|${table}|${columns.join(',')}|${rows}`;
  let text = texts.get(key);
  if (text === undefined) {
    let n = 0;
    const tuple = () => `(${columns.map(() => (style === 'dollar' ? `$${++n}` : '?')).join(', ')})`;
    const tuples: string[] = [];
    for (let i = 0; i < rows; i += 1) tuples.push(tuple());
    text = `insert into ${quote(table)} (${columns.map(quote).join(', ')}) values ${tuples.join(', ')}`;
    if (texts.size > 1000) texts.clear();
    texts.set(key, text);
  }
  return text;
}

/**
 * Inserts rows (all with the same keys, in the same order) into `table`, in
 * statements of ROWS_PER_INSERT rows.
 */
export async function insertRows<T extends keyof Database>(
  db: Kysely<Database>,
  table: T,
  rows: ReadonlyArray<Record<string, unknown>>,
): Promise<void> {
  const first = rows[0];
  if (first === undefined) return;
  const columns = Object.keys(first);
  const style = placeholdersOf(db);
  for (let start = 0; start < rows.length; start += ROWS_PER_INSERT) {
    const chunk = rows.slice(start, start + ROWS_PER_INSERT);
    const parameters: unknown[] = new Array(chunk.length * columns.length);
    let p = 0;
    for (const row of chunk) {
      for (const column of columns) {
        const value = row[column];
        parameters[p++] = value === undefined ? null : value;
      }
    }
    await db.executeQuery(CompiledQuery.raw(insertText(table, columns, chunk.length, style), parameters));
  }
}
