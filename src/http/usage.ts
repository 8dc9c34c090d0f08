// Allowed decisions, counted per member and permission and written to the
// store in batches: the access review reads them to find privileges nobody
// used. Counting in memory keeps a store write out of every request. A pair
// is written within one flush interval (30 s) of its first use, then at most
// once per refresh interval (1 h) while it stays in use: the review asks
// whether a permission was used in a period of days, so a last-use time up to
// an hour old answers it the same, and the table sees one write per pair per
// hour instead of one per pair per flush. A crash loses at most the counts of
// one refresh interval, never the fact that a pair was used. (Support
// decisions are not counted here: they are audited one by one before their
// answer, see ./service.ts.)
import type { Kysely, Transaction } from 'kysely';
import type { Database } from '../store/schema.js';
import { SqliteWriteWorker } from '../store/sqlite-write-worker.js';
import type { Store } from '../store/store.js';
import { systemClock, type Cancel, type Clock } from '../util/clock.js';

/** How often counts are written (the pairs used for the first time, and those due a refresh). */
export const USAGE_FLUSH_MS = 30_000;
/**
 * How long a pair already written may go before its count and last use are written again. Each
 * write is a row scattered over a large table (measured: about 35 µs of the event loop per row on
 * SQLite), and an access review's periods are days long.
 */
export const USAGE_REFRESH_MS = 60 * 60_000;
/** Pairs held in memory (counted or recently written) before everything is written and forgotten, bounding memory. */
export const USAGE_MAX_PENDING = 50_000;
/** Pairs a flush looks at in one turn of the event loop when few of them are due. */
const TAKE_PER_TURN = 2_000;

interface UsageValues {
  workspace_id: string;
  email_normalized: string;
  permission_id: string;
  allowed_count: number;
  first_allowed_at: string;
  last_allowed_at: string;
}

/** Adds the counts to the rows the store has (one statement for either way of writing). */
function upsertUsage(db: Kysely<Database> | Transaction<Database>, rows: UsageValues[]) {
  return db
    .insertInto('permission_usage')
    .values(rows)
    .onConflict((oc) =>
      oc.columns(['workspace_id', 'email_normalized', 'permission_id']).doUpdateSet((eb) => ({
        allowed_count: eb('permission_usage.allowed_count', '+', eb.ref('excluded.allowed_count')),
        last_allowed_at: eb.ref('excluded.last_allowed_at'),
      })),
    );
}

/** Where the counts go, a transaction at a time. */
interface UsageWriter {
  /** Rows per transaction. */
  readonly rowsPerWrite: number;
  /** Gets ready to write (a thread started), ahead of the first flush. */
  start(): void;
  write(rows: readonly UsageRow[]): Promise<void>;
  close(): Promise<void>;
}

function usageValues(row: UsageRow): UsageValues {
  return {
    workspace_id: row.workspaceId,
    email_normalized: row.email,
    permission_id: row.permission,
    allowed_count: row.count,
    first_allowed_at: new Date(row.first).toISOString(),
    last_allowed_at: new Date(row.last).toISOString(),
  };
}

/**
 * A SQLite file: a worker thread's own connection, so the decisions never wait on the disk for a
 * count (see store/sqlite-write-worker.ts). Otherwise (PostgreSQL, whose driver does not hold the
 * event loop; SQLite in memory, which no second connection can open) the store's own connection,
 * in small transactions with a turn of the event loop between.
 */
function usageWriterFor(store: Store): UsageWriter {
  if (store.sqliteFile === undefined) {
    return {
      rowsPerWrite: 50,
      start: () => {},
      write: async (rows) => {
        await store.write((trx) => upsertUsage(trx, rows.map(usageValues)).execute());
        await new Promise((resolve) => setImmediate(resolve));
      },
      close: async () => {},
    };
  }
  const worker = new SqliteWriteWorker(store.sqliteFile);
  // The statement for one row, compiled once; its parameters are a row's values in column order.
  const { sql } = upsertUsage(store.db, [{ workspace_id: '', email_normalized: '', permission_id: '', allowed_count: 0, first_allowed_at: '', last_allowed_at: '' }]).compile();
  return {
    // Short enough that a decision needing the write lock (a support decision's audit entry) waits little.
    rowsPerWrite: 500,
    start: () => worker.start(),
    write: (rows) => {
      // The statement's columns in order; the two times go as epoch milliseconds, formatted by the worker.
      const values: Array<string | number> = [];
      for (const r of rows) values.push(r.workspaceId, r.email, r.permission, r.count, r.first, r.last);
      return worker.run({ sql, width: 6, values, instants: [4, 5] });
    },
    close: () => worker.close(),
  };
}

interface Usage {
  /** Allowed decisions since the pair was last written. */
  count: number;
  first: number;
  last: number;
  /** When the pair was last written, on the clock; undefined when never written by this recorder. */
  writtenAt: number | undefined;
}

interface UsageRow extends Usage {
  workspaceId: string;
  email: string;
  permission: string;
}

/**
 * Held pairs by workspace, then member, then permission. Nested maps, not one map keyed by the
 * three joined: each lookup reuses the hash V8 already keeps on strings the decision looked up, where
 * a joined key is a new string to build and hash on every allowed decision.
 */
type HeldPairs = Map<string, Map<string, Map<string, Usage>>>;

/** In the table's primary-key order (workspace, email, permission), so each write touches neighbouring pages. */
function byPrimaryKey(a: UsageRow, b: UsageRow): number {
  return compare(a.workspaceId, b.workspaceId) || compare(a.email, b.email) || compare(a.permission, b.permission);
}

const compare = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

export interface UsageRecorderOptions {
  /** Schedules the flushes and dates the writes; tests pass a ManualClock and move it. */
  clock?: Clock;
  flushMs?: number;
  refreshMs?: number;
  maxPending?: number;
}

export class UsageRecorder {
  #held: HeldPairs = new Map();
  /** Pairs held (counted, or written and remembered until their refresh is due). */
  #size = 0;
  /** Held pairs with a count not yet written. */
  #unwritten = 0;
  #flushing: Promise<void> = Promise.resolve();
  #cancel: Cancel | undefined;
  #started = false;
  readonly #clock: Clock;
  readonly #flushMs: number;
  readonly #refreshMs: number;
  readonly #maxPending: number;
  readonly #writer: UsageWriter;

  constructor(store: Store, options: UsageRecorderOptions = {}) {
    this.#writer = usageWriterFor(store);
    this.#clock = options.clock ?? systemClock;
    this.#flushMs = options.flushMs ?? USAGE_FLUSH_MS;
    this.#refreshMs = options.refreshMs ?? USAGE_REFRESH_MS;
    this.#maxPending = options.maxPending ?? USAGE_MAX_PENDING;
  }

  /** Starts writing counts every flush interval, on the clock. */
  start(): void {
    this.#started = true;
    this.#writer.start();
    this.#arm();
  }

  #arm(): void {
    this.#cancel = this.#clock.schedule(this.#flushMs, () => {
      this.#cancel = undefined;
      // A failed write keeps its counts for the next flush; nothing else to do here.
      void this.#enqueue('due').catch(() => {});
      if (this.#started) this.#arm();
    });
  }

  /** Pairs with counts not yet written. */
  get pending(): number {
    return this.#unwritten;
  }

  record(workspaceId: string, email: string, permission: string, at: number): void {
    const byPermission = this.#permissionsOf(workspaceId, email);
    const usage = byPermission.get(permission);
    if (usage === undefined) {
      byPermission.set(permission, { count: 1, first: at, last: at, writtenAt: undefined });
      this.#size += 1;
      this.#unwritten += 1;
      if (this.#size === this.#maxPending) void this.flush().catch(() => {});
      return;
    }
    if (usage.count === 0) {
      this.#unwritten += 1;
      usage.first = at;
    }
    usage.count += 1;
    if (at > usage.last) usage.last = at;
  }

  #permissionsOf(workspaceId: string, email: string): Map<string, Usage> {
    let byEmail = this.#held.get(workspaceId);
    if (byEmail === undefined) {
      byEmail = new Map();
      this.#held.set(workspaceId, byEmail);
    }
    let byPermission = byEmail.get(email);
    if (byPermission === undefined) {
      byPermission = new Map();
      byEmail.set(email, byPermission);
    }
    return byPermission;
  }

  #forget(row: Pick<UsageRow, 'workspaceId' | 'email' | 'permission'>): void {
    const byEmail = this.#held.get(row.workspaceId);
    const byPermission = byEmail?.get(row.email);
    if (byEmail === undefined || byPermission === undefined || !byPermission.delete(row.permission)) return;
    this.#size -= 1;
    if (byPermission.size === 0) byEmail.delete(row.email);
    if (byEmail.size === 0) this.#held.delete(row.workspaceId);
  }

  /** Resolves when every flush started so far has ended (without starting one). */
  settled(): Promise<void> {
    return this.#flushing.catch(() => {});
  }

  /** Writes every count held, due a refresh or not, and forgets the pairs written. */
  flush(): Promise<void> {
    return this.#enqueue('all');
  }

  #enqueue(which: 'due' | 'all'): Promise<void> {
    // After a failed flush, the next one still runs (the failure was reported to whoever awaited it).
    this.#flushing = this.#flushing.catch(() => {}).then(() => this.#write(which));
    return this.#flushing;
  }

  /**
   * Takes one workspace's counts to write now out of its held pairs (in primary-key order), and
   * forgets its pairs idle for a refresh interval.
   */
  #takeWorkspace(workspaceId: string, which: 'due' | 'all', now: number, batch: UsageRow[]): number {
    const byEmail = this.#held.get(workspaceId);
    if (byEmail === undefined) return 0;
    const taken: UsageRow[] = [];
    const idle: UsageRow[] = [];
    let visited = 0;
    for (const [email, byPermission] of byEmail) {
      for (const [permission, usage] of byPermission) {
        visited += 1;
        const stale = usage.writtenAt === undefined || now - usage.writtenAt >= this.#refreshMs;
        if (usage.count === 0) {
          if (stale || which === 'all') idle.push({ workspaceId, email, permission, ...usage });
          continue;
        }
        if (!stale && which === 'due') continue;
        taken.push({ workspaceId, email, permission, ...usage });
        usage.count = 0;
        usage.writtenAt = now;
        this.#unwritten -= 1;
      }
    }
    for (const row of idle) this.#forget(row);
    for (const row of taken.sort(byPrimaryKey)) batch.push(row);
    return visited;
  }

  /** Puts counts a failed write could not store back, due at the next flush. */
  #restore(rows: readonly UsageRow[]): void {
    for (const row of rows) {
      const byPermission = this.#permissionsOf(row.workspaceId, row.email);
      const usage = byPermission.get(row.permission);
      if (usage === undefined) {
        byPermission.set(row.permission, { count: row.count, first: row.first, last: row.last, writtenAt: row.writtenAt });
        this.#size += 1;
        this.#unwritten += 1;
        continue;
      }
      if (usage.count === 0) this.#unwritten += 1;
      usage.first = usage.count === 0 ? row.first : Math.min(usage.first, row.first);
      usage.count += row.count;
      usage.last = Math.max(usage.last, row.last);
      usage.writtenAt = row.writtenAt;
    }
  }

  /**
   * Writes the counts due, a workspace at a time in key order: the rows of a few workspaces are
   * taken, sorted and sent, and the event loop turns before the next, so no single turn walks,
   * sorts or formats every pair held (with 20,000 pairs that was a 20 to 35 ms pause of every
   * decision). Counts recorded meanwhile for a workspace not yet taken go out in this flush, the
   * others in the next.
   */
  async #write(which: 'due' | 'all'): Promise<void> {
    const now = this.#clock.now().getTime();
    const workspaces = [...this.#held.keys()].sort(compare);
    const size = this.#writer.rowsPerWrite;
    let next = 0;
    while (next < workspaces.length) {
      const batch: UsageRow[] = [];
      let visited = 0;
      while (next < workspaces.length && batch.length < size && visited < TAKE_PER_TURN) visited += this.#takeWorkspace(workspaces[next++] as string, which, now, batch);
      if (batch.length > 0) await this.#send(batch, which);
      else if (next < workspaces.length) await new Promise((resolve) => setImmediate(resolve));
    }
  }

  /** Writes rows taken from the held pairs; on failure puts back those not written, due at the next flush. */
  async #send(batch: readonly UsageRow[], which: 'due' | 'all'): Promise<void> {
    let written = 0;
    try {
      for (const size = this.#writer.rowsPerWrite; written < batch.length; written += size) {
        await this.#writer.write(batch.slice(written, written + size));
      }
    } catch (err) {
      this.#restore(batch.slice(written));
      throw err;
    }
    // Everything written and not used again meanwhile is forgotten: memory back under the bound.
    if (which === 'all') for (const row of batch) if (this.#held.get(row.workspaceId)?.get(row.email)?.get(row.permission)?.count === 0) this.#forget(row);
  }

  /** Stops the schedule and writes every count still held. */
  async close(): Promise<void> {
    this.#started = false;
    this.#cancel?.();
    this.#cancel = undefined;
    try {
      await this.flush();
    } finally {
      // The worker thread ends either way; counts a failed last flush could not write are reported by the rejection.
      await this.#writer.close();
    }
  }
}
