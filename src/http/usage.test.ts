import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { sql, type KyselyPlugin, type PluginTransformQueryArgs, type PluginTransformResultArgs, type QueryResult, type RootOperationNode, type UnknownRow } from 'kysely';
import { openStore, type Store } from '../store/store.js';
import { ManualClock } from '../util/clock.js';
import { UsageRecorder } from './usage.js';

let store: Store | undefined;
afterEach(async () => {
  await store?.close();
  store = undefined;
});

const T = Date.parse('2026-06-01T00:00:00Z');
const dir = mkdtempSync(join(tmpdir(), 'gatehouse-usage-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;

// In memory the counts go through the store's own connection; a SQLite file gets them from a worker thread's.
const stores = [
  { name: 'SQLite in memory (the store connection)', open: () => openStore('sqlite::memory:'), throughStore: true },
  { name: 'a SQLite file (a write worker thread)', open: () => openStore(`sqlite:${join(dir, `usage-${files++}.db`)}`), throughStore: false },
];

/** Counts the writes made through the store's own connection. */
class WriteCounter implements KyselyPlugin {
  writes = 0;
  transformQuery(args: PluginTransformQueryArgs): RootOperationNode {
    return args.node;
  }
  async transformResult(args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    if (args.result.numAffectedRows !== undefined) this.writes += 1;
    return args.result;
  }
}
const usageRows = async (s: Store) => s.db.selectFrom('permission_usage').selectAll().orderBy('email_normalized').execute();

describe.each(stores)('UsageRecorder on $name', ({ open, throughStore }) => {
  it(`writes ${throughStore ? 'through the store connection' : 'on its own connection, never through the store one'}`, async () => {
    store = await open();
    const counter = new WriteCounter();
    const usage = new UsageRecorder(store.withPlugin(counter));
    usage.record('acme', 'a@acme.example', 'view-dashboard', T);
    await usage.close();
    expect(await usageRows(store)).toMatchObject([{ email_normalized: 'a@acme.example', allowed_count: 1 }]);
    expect(counter.writes > 0).toBe(throughStore);
  });

  it('adds counts to what the store has, in as many small writes as needed', async () => {
    store = await open();
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

  it('writes a new pair once the flush interval has passed on its clock, not before', async () => {
    store = await open();
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
    await usage.close();
    expect(clock.pendingTimers).toBe(0);
  });

  it('writes a pair used again only when the refresh interval has passed since its last write, while new pairs go out at each flush', async () => {
    store = await open();
    const clock = new ManualClock(new Date(T));
    const usage = new UsageRecorder(store, { clock, flushMs: 1000, refreshMs: 5000 });
    usage.start();
    usage.record('acme', 'a@acme.example', 'view-dashboard', T);
    clock.advance(1000); // written at T+1000
    await usage.settled();
    usage.record('acme', 'a@acme.example', 'view-dashboard', T + 1500);
    usage.record('acme', 'b@acme.example', 'view-dashboard', T + 1500);
    clock.advance(1000);
    await usage.settled();
    // b is new and goes out; a was written 1 s ago and waits for its refresh.
    expect(await usageRows(store)).toMatchObject([
      { email_normalized: 'a@acme.example', allowed_count: 1, last_allowed_at: new Date(T).toISOString() },
      { email_normalized: 'b@acme.example', allowed_count: 1 },
    ]);
    expect(usage.pending).toBe(1);
    clock.advance(2000); // T+4000: 3 s since a's write
    await usage.settled();
    expect((await usageRows(store))[0]).toMatchObject({ allowed_count: 1 });
    clock.advance(2000); // T+6000: 5 s since a's write
    await usage.settled();
    expect((await usageRows(store))[0]).toMatchObject({ allowed_count: 2, first_allowed_at: new Date(T).toISOString(), last_allowed_at: new Date(T + 1500).toISOString() });
    expect(usage.pending).toBe(0);
    // A pair idle for a whole refresh interval is forgotten, so its next use is written at the next flush.
    clock.advance(5000);
    await usage.settled();
    usage.record('acme', 'a@acme.example', 'view-dashboard', T + 11_500);
    clock.advance(1000);
    await usage.settled();
    expect((await usageRows(store))[0]).toMatchObject({ allowed_count: 3, last_allowed_at: new Date(T + 11_500).toISOString() });
    await usage.close();
  });

  it('writes everything it holds when closed, and schedules nothing after', async () => {
    store = await open();
    const clock = new ManualClock(new Date(T));
    const usage = new UsageRecorder(store, { clock, flushMs: 60_000 });
    usage.start();
    usage.record('acme', 'a@acme.example', 'view-dashboard', T);
    usage.record('acme', 'b@acme.example', 'create-segment', T);
    await usage.close();
    expect((await usageRows(store)).map((r) => r.email_normalized)).toEqual(['a@acme.example', 'b@acme.example']);
    expect(clock.pendingTimers).toBe(0);
  });

  it('writes counts not yet due a refresh when closed', async () => {
    store = await open();
    const clock = new ManualClock(new Date(T));
    const usage = new UsageRecorder(store, { clock, flushMs: 1000, refreshMs: 60_000 });
    usage.start();
    usage.record('acme', 'a@acme.example', 'view-dashboard', T);
    clock.advance(1000);
    await usage.settled();
    usage.record('acme', 'a@acme.example', 'view-dashboard', T + 1200);
    await usage.close();
    expect(await usageRows(store)).toMatchObject([{ allowed_count: 2, last_allowed_at: new Date(T + 1200).toISOString() }]);
  });

  it('starts a flush early when the counts held reach the bound', async () => {
    store = await open();
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

  it('forgets the pairs an early flush wrote, so the bound holds again for the next ones', async () => {
    store = await open();
    const usage = new UsageRecorder(store, { maxPending: 2 });
    for (const who of ['a', 'b', 'c', 'd']) {
      usage.record('acme', `${who}@acme.example`, 'view-dashboard', T);
      await usage.settled();
    }
    expect((await usageRows(store)).map((r) => r.email_normalized)).toEqual(['a@acme.example', 'b@acme.example', 'c@acme.example', 'd@acme.example']);
    expect(usage.pending).toBe(0);
    await usage.close();
  });

  it('writes many workspaces a few at a time, letting decisions be counted meanwhile', async () => {
    store = await open();
    const usage = new UsageRecorder(store);
    // 40 workspaces of 60 pairs: more than one write and more than one turn of the event loop.
    const workspaces = Array.from({ length: 40 }, (_, w) => `ws-${String(w).padStart(2, '0')}`);
    for (const w of workspaces) for (let m = 0; m < 60; m++) usage.record(w, `m${m}@x.example`, 'view-dashboard', T);
    let turns = 0;
    let counting = true;
    const countTurns = () => {
      turns += 1;
      if (counting) setImmediate(countTurns);
    };
    setImmediate(countTurns);
    const flushed = usage.flush();
    // Recorded once the flush is under way: the last workspace is not taken yet, so its count goes out now.
    await new Promise((resolve) => setImmediate(resolve));
    usage.record('ws-39', 'late@x.example', 'view-dashboard', T + 5);
    await flushed;
    counting = false;
    expect(turns).toBeGreaterThan(1);
    const rows = await store.db.selectFrom('permission_usage').select(['workspace_id', 'email_normalized']).execute();
    expect(rows).toHaveLength(40 * 60 + 1);
    expect(rows.some((r) => r.email_normalized === 'late@x.example')).toBe(true);
    expect(usage.pending).toBe(0);
    await usage.close();
  });

  it('stops at a failed write, keeping its counts and those of the workspaces not yet written', async () => {
    store = await open();
    const usage = new UsageRecorder(store);
    for (const w of ['a', 'b', 'c']) for (let m = 0; m < 600; m++) usage.record(`ws-${w}`, `m${m}@x.example`, 'view-dashboard', T);
    // Refuses only workspace b's rows: a's are written, b's and c's stay held.
    await sql`create trigger refuse_b before insert on permission_usage when new.workspace_id = 'ws-b' begin select raise(abort, 'usage refused'); end`.execute(store.db);
    await expect(usage.flush()).rejects.toThrow(/usage refused/);
    const written = await store.db.selectFrom('permission_usage').select('workspace_id').distinct().execute();
    expect(written.map((r) => r.workspace_id)).toEqual(['ws-a']);
    expect(usage.pending).toBe(1200);
    await sql`drop trigger refuse_b`.execute(store.db);
    await usage.close();
    const counts = await store.db.selectFrom('permission_usage').select(['workspace_id', (eb) => eb.fn.countAll<number>().as('n'), (eb) => eb.fn.sum<number>('allowed_count').as('total')]).groupBy('workspace_id').orderBy('workspace_id').execute();
    expect(counts.map((c) => [c.workspace_id, Number(c.n), Number(c.total)])).toEqual([
      ['ws-a', 600, 600],
      ['ws-b', 600, 600],
      ['ws-c', 600, 600],
    ]);
  });

  it('keeps the counts a failed write could not store, and writes them with the next flush', async () => {
    store = await open();
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
