import { afterEach, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { openStore, type Store } from '../store/store.js';
import { ManualClock } from '../util/clock.js';
import { UsageRecorder } from './usage.js';

let store: Store | undefined;
afterEach(async () => {
  await store?.close();
  store = undefined;
});

const T = Date.parse('2026-06-01T00:00:00Z');
const usageRows = async (s: Store) => s.db.selectFrom('permission_usage').selectAll().orderBy('email_normalized').execute();

describe('UsageRecorder', () => {
  it('adds counts to what the store has, in as many small writes as needed', async () => {
    store = await openStore('sqlite::memory:');
    const usage = new UsageRecorder(store);
    for (let i = 0; i < 120; i++) usage.record('acme', `m${i}@acme.example`, 'view-dashboard', T + i);
    usage.record('acme', 'm0@acme.example', 'view-dashboard', T + 500);
    await usage.flush();
    usage.record('acme', 'm0@acme.example', 'view-dashboard', T + 900);
    await usage.close();
    const rows = await usageRows(store);
    expect(rows).toHaveLength(120);
    expect(rows[0]).toMatchObject({ email_normalized: 'm0@acme.example', allowed_count: 3, first_allowed_at: new Date(T).toISOString(), last_allowed_at: new Date(T + 900).toISOString() });
  });

  it('writes the counts once the flush interval has passed on its clock, not before, and again each interval', async () => {
    store = await openStore('sqlite::memory:');
    const clock = new ManualClock(new Date(T));
    const usage = new UsageRecorder(store, { clock, flushMs: 1000 });
    usage.start();
    usage.record('acme', 'a@acme.example', 'view-dashboard', T);
    clock.advance(999);
    await usage.settled();
    expect(await usageRows(store)).toHaveLength(0);
    expect(usage.pending).toBe(1);
    clock.advance(1);
    await usage.settled();
    expect(await usageRows(store)).toMatchObject([{ email_normalized: 'a@acme.example', allowed_count: 1 }]);
    expect(usage.pending).toBe(0);
    usage.record('acme', 'a@acme.example', 'view-dashboard', T + 1500);
    clock.advance(1000);
    await usage.settled();
    expect(await usageRows(store)).toMatchObject([{ allowed_count: 2, last_allowed_at: new Date(T + 1500).toISOString() }]);
    await usage.close();
    expect(clock.pendingTimers).toBe(0);
  });

  it('writes everything it holds when closed, and schedules nothing after', async () => {
    store = await openStore('sqlite::memory:');
    const clock = new ManualClock(new Date(T));
    const usage = new UsageRecorder(store, { clock, flushMs: 60_000 });
    usage.start();
    usage.record('acme', 'a@acme.example', 'view-dashboard', T);
    usage.record('acme', 'b@acme.example', 'create-segment', T);
    await usage.close();
    expect((await usageRows(store)).map((r) => r.email_normalized)).toEqual(['a@acme.example', 'b@acme.example']);
    expect(clock.pendingTimers).toBe(0);
  });

  it('starts a flush early when the counts held reach the bound', async () => {
    store = await openStore('sqlite::memory:');
    const clock = new ManualClock(new Date(T));
    const usage = new UsageRecorder(store, { clock, flushMs: 60_000, maxPending: 3 });
    usage.start();
    for (const who of ['a', 'b']) usage.record('acme', `${who}@acme.example`, 'view-dashboard', T);
    await usage.settled();
    expect(await usageRows(store)).toHaveLength(0);
    usage.record('acme', 'c@acme.example', 'view-dashboard', T);
    await usage.settled();
    expect(await usageRows(store)).toHaveLength(3);
    await usage.close();
  });

  it('keeps the counts a failed write could not store, and writes them with the next flush', async () => {
    store = await openStore('sqlite::memory:');
    const usage = new UsageRecorder(store);
    usage.record('acme', 'a@acme.example', 'view-dashboard', T);
    // The store refuses the write (as a full disk or a lost connection would).
    await sql`create trigger refuse_usage before insert on permission_usage begin select raise(abort, 'usage refused'); end`.execute(store.db);
    await expect(usage.flush()).rejects.toThrow(/usage refused/);
    usage.record('acme', 'a@acme.example', 'view-dashboard', T + 10);
    await sql`drop trigger refuse_usage`.execute(store.db);
    await usage.close();
    expect(await usageRows(store)).toMatchObject([{ allowed_count: 2, first_allowed_at: new Date(T).toISOString(), last_allowed_at: new Date(T + 10).toISOString() }]);
  });
});
