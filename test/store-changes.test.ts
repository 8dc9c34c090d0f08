// The decision API's change watcher on each store: a change to a table whose
// facts it caches (by any connection) is reported within the one-second bar;
// usage counts and audit entries written meanwhile are not, so the cache
// survives the API's own bookkeeping.
import { afterEach, expect, it, vi } from 'vitest';
import { watchStoreChanges, SQLITE_POLL_MS, type ChangeWatcher } from '../src/http/changes.js';
import { createApiToken } from '../src/http/tokens.js';
import { UsageRecorder } from '../src/http/usage.js';
import { aMember, aWorkspace } from '../src/rules/testing/builders.js';
import { appendAudit } from '../src/store/audit.js';
import { openStore, type Store } from '../src/store/store.js';
import { syncAll } from './support/engine.js';
import { forEachDialect } from './support/stores.js';

const T0 = '2026-06-01T00:00:00.000Z';
const declared = [aWorkspace({ spec: { admins: { min: 0, max: 1 } } }), aMember({ name: 'alice' })];

forEachDialect('store change watcher', (dialect) => {
  const opened: Array<{ close(): Promise<void> }> = [];
  afterEach(async () => {
    for (const o of opened.splice(0).reverse()) await o.close();
  });

  async function watched(): Promise<{ store: Store; other: Store; changes: () => number }> {
    const dsn = await dialect.newDsn();
    const other = await openStore(dsn);
    opened.push(other);
    await syncAll(other, declared, T0);
    const store = await openStore(dsn);
    opened.push(store);
    let changes = 0;
    const watcher: ChangeWatcher = await watchStoreChanges({ store, dsn, onChange: () => (changes += 1) });
    opened.push(watcher);
    await vi.waitFor(() => expect(watcher.watching).toBe(true));
    return { store, other, changes: () => changes };
  }

  it.each([
    ['a member changed by another connection', (s: Store) => syncAll(s, [declared[0]!, aMember({ name: 'alice', spec: { role: 'editor' } })], T0)],
    ['an API token created by another connection', (s: Store) => createApiToken(s, { name: 'other-app', actor: 'cli:test', at: new Date(T0) })],
  ])('reports %s', async (_name, change) => {
    const { other, changes } = await watched();
    // A PostgreSQL listener reports once as it starts (what changed before it listened is unknown).
    const before = changes();
    await change(other);
    await vi.waitFor(() => expect(changes()).toBeGreaterThan(before), { timeout: 1000, interval: 20 });
  });

  it('does not report usage counts or audit entries, from its own connection or another', async () => {
    const { store, other, changes } = await watched();
    const before = changes();
    for (const s of [store, other]) {
      const usage = new UsageRecorder(s);
      usage.record('acme', 'alice@acme.example', 'view-dashboard', Date.parse(T0));
      await usage.close();
      await s.write((trx) => appendAudit(trx, [{ at: T0, actor: 'test', action: 'support.allow', workspaceId: 'acme', after: { permission: 'view-dashboard' }, reason: 'a test entry' }]));
    }
    // Three polls (SQLite) or notifications delivered (PostgreSQL) with nothing to report; then a real change is.
    await new Promise((resolve) => setTimeout(resolve, 3 * SQLITE_POLL_MS));
    expect(changes()).toBe(before);
    await syncAll(other, [declared[0]!, aMember({ name: 'alice', spec: { role: 'editor' } })], T0);
    await vi.waitFor(() => expect(changes()).toBeGreaterThan(before), { timeout: 1000, interval: 20 });
  });
});
