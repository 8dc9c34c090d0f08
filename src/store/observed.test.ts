import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { GatehouseObject } from '../model/kinds.js';
import { aMember, anAdmin, aWorkspace } from '../rules/testing/builders.js';
import { syncAll } from '../../test/support/engine.js';
import { dialects, forEachDialect } from '../../test/support/stores.js';
import { memberKey } from '../reconcile/records.js';
import { loadObserved, readObservedSnapshot, snapshotStillCurrent } from './observed.js';
import { openStore, type Store } from './store.js';

const T0 = '2026-06-01T00:00:00.000Z';

/** A Workspace with an admin and `members` viewers. */
function declaration(members: number): GatehouseObject[] {
  const objects: GatehouseObject[] = [aWorkspace(), anAdmin()];
  for (let i = 0; i < members; i += 1) objects.push(aMember({ name: `m${String(i).padStart(4, '0')}` }));
  return objects;
}

forEachDialect('loadObserved reads the same whether member rows stream or not', (dialect) => {
  let store: Store;
  beforeEach(async () => {
    store = await dialect.open();
  });
  afterEach(async () => {
    await store.close();
  });

  it.each([
    ['no member but the admin', 0],
    ['a few members', 3],
    ['more members than one streamed chunk', 1500],
  ])('with %s', async (_name, members) => {
    await syncAll(store, declaration(members), T0);
    const [streamed, atOnce] = await store.read(async (trx) => [await loadObserved(trx, { type: 'all' }, store.dialect), await loadObserved(trx, { type: 'all' })]);
    expect(streamed.members.size).toBe(members + 1);
    // Same records, in the same order (maps compared entry by entry).
    expect([...streamed.members]).toEqual([...atOnce.members]);
    expect([...streamed.memberCounts]).toEqual([...atOnce.memberCounts]);
    expect([...streamed.roleUsage]).toEqual([...atOnce.roleUsage]);
    expect(streamed).toEqual(atOnce);
  });
});

describe('a snapshot of a SQLite store tells whether the store changed since', () => {
  const sqlite = dialects().find((d) => d.name === 'sqlite');
  let dsn: string;
  let store: Store;
  let other: Store;
  beforeEach(async () => {
    dsn = await (sqlite as NonNullable<typeof sqlite>).newDsn();
    store = await openStore(dsn);
    other = await openStore(dsn, { migrate: 'check' });
    await syncAll(store, declaration(3), T0);
  });
  afterEach(async () => {
    await store.close();
    await other.close();
  });

  const changeRole = (on: Store): Promise<unknown> => on.write((trx) => trx.updateTable('members').set({ role_id: 'editor' }).where('email_normalized', '=', 'm0001@acme.example').execute());

  it.each([
    ['nothing happened', async () => undefined, true],
    ['another connection only read', async () => void (await other.read((trx) => loadObserved(trx, { type: 'all' }))), true],
    ['another connection wrote a row', () => changeRole(other), false],
    ['this connection wrote a row', () => changeRole(store), false],
    ['another connection wrote an invitation only', () => other.write((trx) => trx.updateTable('invitations').set({ resend_requested: 5 }).execute()), false],
  ] as Array<[string, () => Promise<unknown>, boolean]>)('%s: current %s', async (_name, meanwhile, current) => {
    const snapshot = await readObservedSnapshot(store);
    expect(snapshot.observed.members.size).toBe(4);
    await meanwhile();
    expect(await store.write((trx) => snapshotStillCurrent(trx, snapshot))).toBe(current);
  });

  it('a sync given a snapshot that is no longer current reads the store again', async () => {
    const snapshot = await readObservedSnapshot(store);
    await changeRole(other);
    const result = await syncAll(store, declaration(3), T0, { snapshot, dryRun: true });
    // Seen only by reading again: the row's role was changed after the snapshot.
    expect(result.plan.actions.map((a) => `${a.op} ${a.key}`)).toEqual(['update acme/m0001@acme.example']);
    const fresh = await syncAll(store, declaration(3), T0, { snapshot: await readObservedSnapshot(store), dryRun: true });
    expect(fresh.plan.actions.map((a) => `${a.op} ${a.key}`)).toEqual(['update acme/m0001@acme.example']);
  });

  it('a sync given a current snapshot uses it (a stale one handed in on purpose shows it was used)', async () => {
    const before = await readObservedSnapshot(store);
    // The snapshot says m0001 has another role; nothing changed since it was taken, so it is believed.
    const record = before.observed.members.get(memberKey('acme', 'm0001@acme.example'));
    expect(record).toBeDefined();
    if (record !== undefined) record.roleId = 'editor';
    const result = await syncAll(store, declaration(3), T0, { snapshot: before, dryRun: true });
    expect(result.plan.actions.map((a) => `${a.op} ${a.key}`)).toEqual(['update acme/m0001@acme.example']);
  });

  it('is refused on PostgreSQL, which has no data_version', async () => {
    await expect(readObservedSnapshot({ dialect: 'postgres', read: store.read.bind(store) })).rejects.toThrow(/only a SQLite store/);
  });
});
