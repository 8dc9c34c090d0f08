// Allowed decisions, counted per member and permission and written to the
// store in batches: the access review reads them to find privileges nobody
// used. Counting in memory keeps a store write out of every request; a crash
// loses at most one flush interval (30 s) of counts, which only makes the review
// suggest a smaller role a little sooner. (Support decisions are not counted
// here: they are audited one by one before their answer, see ./service.ts.)
import type { Store } from '../store/store.js';
import { systemClock, type Cancel, type Clock } from '../util/clock.js';

/**
 * How often counts are written. Each flush writes one row per member and permission used since the
 * last, scattered over a large table, so a longer interval writes the same information with far
 * less I/O (measured: about 35 µs of the event loop per row on SQLite). 30 s is nothing next to a
 * review period of days.
 */
export const USAGE_FLUSH_MS = 30_000;
/** Distinct (member, permission) counts held before a flush is started early, bounding memory. */
export const USAGE_MAX_PENDING = 50_000;
const USAGE_ROWS_PER_WRITE = 50;

interface Usage {
  count: number;
  first: number;
  last: number;
}

export interface UsageRecorderOptions {
  /** Schedules the flushes; tests pass a ManualClock and move it. */
  clock?: Clock;
  flushMs?: number;
  maxPending?: number;
}

const keyOf = (workspaceId: string, email: string, permission: string) => `${workspaceId}\u0000${email}\u0000${permission}`;

export class UsageRecorder {
  #pending = new Map<string, Usage>();
  #flushing: Promise<void> = Promise.resolve();
  #cancel: Cancel | undefined;
  #started = false;
  readonly #clock: Clock;
  readonly #flushMs: number;
  readonly #maxPending: number;

  constructor(
    private readonly store: Store,
    options: UsageRecorderOptions = {},
  ) {
    this.#clock = options.clock ?? systemClock;
    this.#flushMs = options.flushMs ?? USAGE_FLUSH_MS;
    this.#maxPending = options.maxPending ?? USAGE_MAX_PENDING;
  }

  /** Starts writing counts every flush interval, on the clock. */
  start(): void {
    this.#started = true;
    this.#arm();
  }

  #arm(): void {
    this.#cancel = this.#clock.schedule(this.#flushMs, () => {
      this.#cancel = undefined;
      // A failed write keeps its counts for the next flush; nothing else to do here.
      void this.flush().catch(() => {});
      if (this.#started) this.#arm();
    });
  }

  /** Counts waiting to be written (distinct member and permission pairs). */
  get pending(): number {
    return this.#pending.size;
  }

  record(workspaceId: string, email: string, permission: string, at: number): void {
    const key = keyOf(workspaceId, email, permission);
    const usage = this.#pending.get(key);
    if (usage === undefined) {
      this.#pending.set(key, { count: 1, first: at, last: at });
      if (this.#pending.size === this.#maxPending) void this.flush().catch(() => {});
    } else {
      usage.count += 1;
      if (at > usage.last) usage.last = at;
    }
  }

  /** Resolves when every flush started so far has ended (without starting one). */
  settled(): Promise<void> {
    return this.#flushing.catch(() => {});
  }

  /** Writes what was counted since the last flush, adding to what the store has. */
  flush(): Promise<void> {
    // After a failed flush, the next one still runs (the failure was reported to whoever awaited it).
    this.#flushing = this.#flushing.catch(() => {}).then(() => this.#write());
    return this.#flushing;
  }

  async #write(): Promise<void> {
    if (this.#pending.size === 0) return;
    // In key order (workspace, email, permission: the table's primary key), so each small write
    // touches a few neighbouring pages instead of scattering over the table: a fraction of the I/O.
    const batch = [...this.#pending].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    this.#pending = new Map();
    let written = 0;
    try {
      // Small transactions with a turn of the event loop between: SQLite runs in this thread, and
      // one long write (or building every row up front) would hold up the decisions waiting behind it.
      for (; written < batch.length; written += USAGE_ROWS_PER_WRITE) {
        const chunk = batch.slice(written, written + USAGE_ROWS_PER_WRITE).map(([key, u]) => {
          const [workspace_id = '', email_normalized = '', permission_id = ''] = key.split('\u0000');
          return {
            workspace_id,
            email_normalized,
            permission_id,
            allowed_count: u.count,
            first_allowed_at: new Date(u.first).toISOString(),
            last_allowed_at: new Date(u.last).toISOString(),
          };
        });
        await this.store.write((trx) =>
          trx
            .insertInto('permission_usage')
            .values(chunk)
            .onConflict((oc) =>
              oc.columns(['workspace_id', 'email_normalized', 'permission_id']).doUpdateSet((eb) => ({
                allowed_count: eb('permission_usage.allowed_count', '+', eb.ref('excluded.allowed_count')),
                last_allowed_at: eb.ref('excluded.last_allowed_at'),
              })),
            )
            .execute(),
        );
        await new Promise((resolve) => setImmediate(resolve));
      }
    } catch (err) {
      // Put back the counts not yet written so the next flush writes them.
      for (const [key, u] of batch.slice(written)) {
        const now = this.#pending.get(key);
        this.#pending.set(key, now === undefined ? u : { count: now.count + u.count, first: Math.min(now.first, u.first), last: Math.max(now.last, u.last) });
      }
      throw err;
    }
  }

  /** Stops the schedule and writes every count still held. */
  async close(): Promise<void> {
    this.#started = false;
    this.#cancel?.();
    this.#cancel = undefined;
    await this.flush();
  }
}
