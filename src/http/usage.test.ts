import { afterEach, expect, it } from 'vitest';
import { openStore, type Store } from '../store/store.js';
import { UsageRecorder } from './usage.js';

let store: Store | undefined;
afterEach(async () => {
  await store?.close();
});

it('adds counts to what the store has, in as many small writes as needed', async () => {
  store = await openStore('sqlite::memory:');
  const usage = new UsageRecorder(store);
  const t = Date.parse('2026-06-01T00:00:00Z');
  for (let i = 0; i < 120; i++) usage.record('acme', `m${i}@acme.example`, 'view-dashboard', t + i);
  usage.record('acme', 'm0@acme.example', 'view-dashboard', t + 500);
  await usage.flush();
  usage.record('acme', 'm0@acme.example', 'view-dashboard', t + 900);
  await usage.close();
  const rows = await store.db.selectFrom('permission_usage').selectAll().orderBy('email_normalized').execute();
  expect(rows).toHaveLength(120);
  expect(rows[0]).toMatchObject({ email_normalized: 'm0@acme.example', allowed_count: 3, first_allowed_at: new Date(t).toISOString(), last_allowed_at: new Date(t + 900).toISOString() });
});
