// The cache's live index follows the informers' stores: what a watch
// delivers, what a write returned (observe), and objects on their way out.
// No API server is needed: the informers are fed directly, as a reflector does.
import { KubeConfig } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { aMember, aWorkspace } from '../rules/testing/builders.js';
import { ClusterCache, type CachedObject } from './cache.js';
import { KubeClient } from './client.js';

function newCache(): ClusterCache {
  const config = new KubeConfig();
  config.loadFromOptions({
    clusters: [{ name: 'none', server: 'https://127.0.0.1:9' }],
    users: [{ name: 'none' }],
    contexts: [{ name: 'none', cluster: 'none', user: 'none' }],
    currentContext: 'none',
  });
  return new ClusterCache({ client: new KubeClient(config) });
}

function cached<T extends object>(object: T, resourceVersion: number, extra: Record<string, unknown> = {}): CachedObject {
  const o = structuredClone(object) as unknown as CachedObject;
  o.metadata = { ...o.metadata, resourceVersion: String(resourceVersion), ...extra };
  return o;
}

const emails = (cache: ClusterCache) => [...cache.live().membersByEmail('acme', 'acme').keys()];

describe('ClusterCache live index', () => {
  it('follows adds, updates, deletion marks and deletes from the watch', () => {
    const cache = newCache();
    const members = cache.informers.Member;
    cache.informers.Workspace.upsert(cached(aWorkspace(), 1));
    members.upsert(cached(aMember({ name: 'alice' }), 2));
    members.upsert(cached(aMember({ name: 'bob' }), 3));
    expect(emails(cache)).toEqual(['alice@acme.example', 'bob@acme.example']);

    members.upsert(cached(aMember({ name: 'alice', spec: { email: 'al@acme.example' } }), 4));
    expect(emails(cache)).toEqual(['bob@acme.example', 'al@acme.example']);
    // An older event changes nothing.
    members.upsert(cached(aMember({ name: 'alice', spec: { email: 'old@acme.example' } }), 3));
    expect(emails(cache)).toEqual(['bob@acme.example', 'al@acme.example']);

    // Being deleted: still in the cache, gone for the rules.
    members.upsert(cached(aMember({ name: 'bob' }), 5, { deletionTimestamp: '2026-01-01T00:00:00Z', finalizers: ['gatehouse.dev/store'] }));
    expect(cache.get('Member', 'acme', 'bob')).toBeDefined();
    expect(cache.live().get('Member', 'acme', 'bob')).toBeUndefined();
    expect(emails(cache)).toEqual(['al@acme.example']);

    members.remove(cached(aMember({ name: 'alice' }), 6));
    expect(cache.live().list('Member')).toEqual([]);
    expect(cache.live().list('Workspace')).toHaveLength(1);
  });

  it('takes a write the operator observed at once, as the compact copy the cache keeps', () => {
    const cache = newCache();
    const members = cache.informers.Member;
    members.upsert(cached(aMember({ name: 'alice' }), 2));
    const written = cached(aMember({ name: 'alice', spec: { role: 'admin' } }), 7, {
      managedFields: [{ manager: 'gatehouse-operator', operation: 'Update' }],
    });
    const kept = members.observe(written);
    expect(kept.metadata.managedFields).toBeUndefined();
    expect(cache.get('Member', 'acme', 'alice')).toBe(kept);
    expect(cache.live().get('Member', 'acme', 'alice')).toBe(kept);
    expect([...cache.live().membersByRole('acme', 'acme').keys()]).toEqual(['admin']);
    // A write older than the cache's copy returns that copy.
    expect(members.observe(cached(aMember({ name: 'alice' }), 6))).toBe(kept);
  });
});
