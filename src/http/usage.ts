// Allowed decisions, counted per member and permission and written to the
// store in batches: the access review reads them to find privileges nobody
// used. Counting in memory keeps a store write out of every request; a crash
// loses at most one flush interval of counts, which only makes the review
// suggest a smaller role a little sooner.
import type { Store } from '../store/store.js';

export const USAGE_FLUSH_MS = 5000;
const USAGE_ROWS_PER_WRITE = 50;

interface Usage {
  count: number;
  first: number;
  last: number;
}

export class UsageRecorder {
  #pending = new Map<string, Usage>();
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> = Promise.resolve();

  constructor(private readonly store: Store) {}

  /** Starts writing counts every `intervalMs` (real time: this is bookkeeping, not policy). */
  start(intervalMs = USAGE_FLUSH_MS): void {
    this.#timer = setInterval(() => {
      void this.flush().catch(() => {});
    }, intervalMs);
    this.#timer.unref();
  }

  record(workspaceId: string, email: string, permission: string, at: number): void {
    const key = `${workspaceId}\u0000${email}\u0000${permission}`;
    const usage = this.#pending.get(key);
    if (usage === undefined) this.#pending.set(key, { count: 1, first: at, last: at });
    else {
      usage.count += 1;
      usage.last = Math.max(usage.last, at);
    }
  }

  /** Writes what was counted since the last flush, adding to what the store has. */
  flush(): Promise<void> {
    this.#flushing = this.#flushing.then(() => this.#write());
    return this.#flushing;
  }

  async #write(): Promise<void> {
    if (this.#pending.size === 0) return;
    const batch = this.#pending;
    this.#pending = new Map();
    const rows = [...batch].map(([key, u]) => {
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
    let written = 0;
    try {
      // Small transactions with a pause between: SQLite runs in this thread, and one long
      // write would hold up the decisions waiting behind it.
      for (; written < rows.length; written += USAGE_ROWS_PER_WRITE) {
        const chunk = rows.slice(written, written + USAGE_ROWS_PER_WRITE);
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
      const unwritten = new Set(rows.slice(written).map((r) => `${r.workspace_id}\u0000${r.email_normalized}\u0000${r.permission_id}`));
      for (const [key, u] of batch) {
        if (!unwritten.has(key)) continue;
        const now = this.#pending.get(key);
        this.#pending.set(key, now === undefined ? u : { count: now.count + u.count, first: Math.min(now.first, u.first), last: Math.max(now.last, u.last) });
      }
      throw err;
    }
  }

  async close(): Promise<void> {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    await this.flush();
  }
}
