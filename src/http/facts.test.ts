import { afterEach, describe, expect, it } from 'vitest';
import { aMember, aWorkspace } from '../rules/testing/builders.js';
import { openStore, type Store } from '../store/store.js';
import { syncAll } from '../../test/support/engine.js';
import { FactsCache } from './facts.js';
import { createApiToken, hashApiToken, revokeApiToken } from './tokens.js';

const T0 = '2026-06-01T00:00:00.000Z';
let store: Store | undefined;
afterEach(async () => {
  await store?.close();
  store = undefined;
});

async function seeded(): Promise<Store> {
  store = await openStore('sqlite::memory:');
  await syncAll(store, [aWorkspace({ spec: { admins: { min: 0, max: 1 } } }), aMember({ name: 'alice' })], T0);
  return store;
}

describe('FactsCache peeks (what is answered without waiting)', () => {
  it('has nothing in memory before a load, the snapshot after it, null for a workspace the store lacks', async () => {
    const facts = new FactsCache(await seeded());
    expect(facts.peekWorkspace('acme')).toBeUndefined();
    await facts.workspace('acme');
    expect(facts.peekWorkspace('acme')?.members.has('alice@acme.example')).toBe(true);
    await facts.workspace('nowhere');
    expect(facts.peekWorkspace('nowhere')).toBeNull();
  });

  it('forgets everything on a store change, and keeps no load that raced with the change', async () => {
    const facts = new FactsCache(await seeded());
    await facts.workspace('acme');
    facts.invalidate();
    expect(facts.peekWorkspace('acme')).toBeUndefined();
    const racing = facts.workspace('acme');
    facts.invalidate();
    await racing;
    expect(facts.peekWorkspace('acme')).toBeUndefined();
  });

  it('keeps nothing in memory while changes are not watched', async () => {
    const facts = new FactsCache(await seeded());
    facts.cacheable = false;
    await facts.workspace('acme');
    await facts.tokens();
    expect(facts.peekWorkspace('acme')).toBeUndefined();
    expect(facts.peekTokens()).toBeUndefined();
  });

  it('keeps the tokens once loaded, and not a load that raced with a revocation', async () => {
    const s = await seeded();
    const token = await createApiToken(s, { name: 'app', actor: 'cli:test', at: new Date(T0) });
    const facts = new FactsCache(s);
    expect(facts.peekTokens()).toBeUndefined();
    await facts.tokens();
    expect(facts.peekTokens()?.get(hashApiToken(token))).toEqual({ name: 'app', revoked: false });
    const racing = facts.tokens();
    await revokeApiToken(s, { name: 'app', actor: 'cli:test', at: new Date(T0) });
    facts.invalidate();
    await racing;
    expect(facts.peekTokens()).toBeUndefined();
    await facts.tokens();
    expect(facts.peekTokens()?.get(hashApiToken(token))?.revoked).toBe(true);
  });
});
