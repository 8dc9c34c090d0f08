import { afterEach, beforeEach, expect, it } from 'vitest';
import type { GatehouseObject } from '../model/kinds.js';
import { aMember, anAdmin, aWorkspace } from '../rules/testing/builders.js';
import { syncAll } from '../../test/support/engine.js';
import { forEachDialect } from '../../test/support/stores.js';
import { loadObserved } from './observed.js';
import type { Store } from './store.js';

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
