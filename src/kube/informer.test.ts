import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeApiServer } from '../../test/support/fake-apiserver/index.js';
import { ManualClock } from '../util/clock.js';
import { KubeClient, gatehouseResource, type KubeObject } from './client.js';
import { Informer, type InformerEvent } from './informer.js';
import { LAST_APPLIED_ANNOTATION, StringPool, compactObject } from './projection.js';
import { eventually } from '../../test/support/eventually.js';

const API_VERSION = 'gatehouse.dev/v1alpha1';

function member(name: string, namespace = 'team-a', workspace = 'acme', role = 'viewer') {
  return {
    apiVersion: API_VERSION,
    kind: 'Member',
    metadata: { name, namespace },
    spec: { workspaceRef: { name: workspace }, email: `${name}@example.com`, displayName: name, role },
  };
}

const until = (condition: () => boolean, what: string, timeoutMs = 5000) => eventually(condition, what, timeoutMs);

describe('Informer against the fake API server', () => {
  let fake: FakeApiServer;
  let client: KubeClient;
  let clock: ManualClock;
  let informer: Informer<KubeObject>;
  let events: string[];

  function startInformer(namespaces?: string[]) {
    informer = new Informer<KubeObject>({ client, resource: gatehouseResource('Member'), clock, ...(namespaces ? { namespaces } : {}), backoff: { baseMs: 200, maxMs: 1600 } });
    informer.on((event: InformerEvent<KubeObject>) => {
      const old = event.type === 'update' ? ` (was ${(event.old.spec as { role: string }).role})` : '';
      events.push(`${event.type} ${event.object.metadata.namespace}/${event.object.metadata.name}${old}`);
    });
    informer.start();
    return informer.waitForSync(5000);
  }

  beforeEach(async () => {
    fake = await FakeApiServer.start();
    client = new KubeClient(fake.kubeConfig());
    clock = new ManualClock();
    events = [];
  });
  afterEach(async () => {
    await informer?.stop();
    await fake.stop();
  });

  it('lists, then watches from the list: add, update with the old object, delete', async () => {
    fake.seed(member('alice'));
    await startInformer();
    expect(informer.hasSynced).toBe(true);
    expect(events).toEqual(['add team-a/alice']);
    await until(() => fake.activeWatches === 1, 'the watch');
    await client.create(gatehouseResource('Member'), 'team-a', member('bob'));
    await client.patch(gatehouseResource('Member'), 'team-a', 'alice', { spec: { role: 'editor' } }, { type: 'merge' });
    await client.delete(gatehouseResource('Member'), 'team-a', 'bob');
    await until(() => events.length === 4, 'three more events');
    expect(events).toEqual(['add team-a/alice', 'add team-a/bob', 'update team-a/alice (was viewer)', 'delete team-a/bob']);
    expect(informer.list().map((o) => o.metadata.name)).toEqual(['alice']);
    expect(informer.stats.lists).toBe(1);
  });

  it('relists after 410 Gone and reconciles the cache, deletions included', async () => {
    fake.seed(member('alice'));
    fake.seed(member('carol'));
    await startInformer();
    await until(() => fake.activeWatches === 1, 'the watch');
    fake.dropWatches();
    // While the informer waits out its backoff, things change and history is compacted.
    await until(() => clock.pendingTimers === 1, 'the reconnect backoff');
    fake.seed(member('bob'));
    await client.delete(gatehouseResource('Member'), 'team-a', 'carol');
    fake.compactHistory();
    clock.advance(200);
    await until(() => informer.stats.lists === 2 && informer.get('team-a', 'bob') !== undefined, 'the relist');
    expect(informer.list().map((o) => o.metadata.name).sort()).toEqual(['alice', 'bob']);
    expect(events).toEqual(['add team-a/alice', 'add team-a/carol', 'delete team-a/carol', 'add team-a/bob']);
    expect(informer.stats.lists).toBe(2);
  });

  it('reconnects a dropped watch after its backoff, from the last resourceVersion (no relist)', async () => {
    fake.seed(member('alice'));
    await startInformer();
    await until(() => fake.activeWatches === 1, 'the watch');
    fake.dropWatches();
    await until(() => clock.pendingTimers === 1, 'the reconnect backoff');
    fake.seed(member('bob'));
    clock.advance(199);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(fake.activeWatches).toBe(0);
    clock.advance(1);
    await until(() => informer.get('team-a', 'bob') !== undefined, 'bob through the resumed watch');
    expect(informer.stats.lists).toBe(1);
    expect(informer.stats.watches).toBe(2);
    const resumed = fake.requests.filter((r) => r.watch).at(-1);
    expect(Number(resumed?.query.resourceVersion)).toBeGreaterThan(0);
  });

  it('backs off exponentially while watches keep failing', async () => {
    await startInformer();
    await until(() => fake.activeWatches === 1, 'the watch');
    fake.failNext('GET', /watch=true/, 500, { times: 2 });
    fake.dropWatches();
    const delays: number[] = [];
    for (let i = 0; i < 3; i += 1) {
      await until(() => clock.pendingTimers === 1, `backoff ${i}`);
      const before = clock.now().getTime();
      // Step until the timer fires to learn its delay.
      while (clock.pendingTimers === 1) clock.advance(100);
      delays.push(clock.now().getTime() - before);
    }
    expect(delays).toEqual([200, 400, 800]);
    await until(() => fake.activeWatches === 1, 'the watch back');
    expect(informer.stats.watchErrors).toBeGreaterThanOrEqual(3);
  });

  it('watches only the listed namespaces', async () => {
    fake.seed(member('alice', 'team-a'));
    fake.seed(member('bob', 'team-b'));
    fake.seed(member('carol', 'team-c'));
    await startInformer(['team-a', 'team-c']);
    await client.create(gatehouseResource('Member'), 'team-b', member('dave', 'team-b'));
    await client.create(gatehouseResource('Member'), 'team-c', member('erin', 'team-c'));
    await until(() => informer.size === 3, 'erin');
    expect(informer.list().map((o) => o.metadata.name).sort()).toEqual(['alice', 'carol', 'erin']);
    expect(informer.list('team-c').map((o) => o.metadata.name).sort()).toEqual(['carol', 'erin']);
    expect(fake.requests.filter((r) => r.watch).map((r) => r.path).sort()).toEqual([
      '/apis/gatehouse.dev/v1alpha1/namespaces/team-a/members',
      '/apis/gatehouse.dev/v1alpha1/namespaces/team-c/members',
    ]);
  });

  it('keeps named indexes current', async () => {
    fake.seed(member('alice', 'team-a', 'acme'));
    fake.seed(member('bob', 'team-a', 'globex'));
    informer = new Informer<KubeObject>({ client, resource: gatehouseResource('Member'), clock });
    informer.addIndex('workspace', (o) => [`${o.metadata.namespace}/${(o.spec as { workspaceRef: { name: string } }).workspaceRef.name}`]);
    informer.start();
    await informer.waitForSync();
    expect(informer.byIndex('workspace', 'team-a/acme').map((o) => o.metadata.name)).toEqual(['alice']);
    await client.delete(gatehouseResource('Member'), 'team-a', 'alice');
    await until(() => informer.size === 1, 'the delete');
    expect(informer.byIndex('workspace', 'team-a/acme')).toEqual([]);
  });

  it('observe() records a write without calling handlers; its watch event is then a no-op', async () => {
    fake.seed(member('alice'));
    await startInformer();
    await until(() => fake.activeWatches === 1, 'the watch');
    // Hold the watch back (the reflector waits on the manual clock) so the write's event comes after observe().
    fake.dropWatches();
    await until(() => clock.pendingTimers === 1, 'the reconnect backoff');
    const written = await client.patch<KubeObject>(gatehouseResource('Member'), 'team-a', 'alice', { metadata: { labels: { a: 'b' } } }, { type: 'merge' });
    informer.observe(written);
    expect(informer.get('team-a', 'alice')?.metadata.resourceVersion).toBe(written.metadata.resourceVersion);
    clock.advance(200);
    await until(() => fake.activeWatches === 1 && informer.stats.watches === 2, 'the resumed watch');
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(events).toEqual(['add team-a/alice']);
  });

  it('lists in pages of pageSize and keeps the transformed copy from lists, watches and writes', async () => {
    const managedFields = [{ manager: 'kubectl', operation: 'Update', fieldsType: 'FieldsV1', fieldsV1: { 'f:spec': { 'f:role': {} } } }];
    for (const name of ['m1', 'm2', 'm3', 'm4', 'm5']) {
      const m = member(name);
      fake.seed({ ...m, metadata: { ...m.metadata, managedFields, annotations: { [LAST_APPLIED_ANNOTATION]: JSON.stringify(m), team: 'blue' } } });
    }
    const pool = new StringPool();
    informer = new Informer<KubeObject>({ client, resource: gatehouseResource('Member'), clock, pageSize: 2, transform: (o) => compactObject(o, pool) });
    informer.start();
    await informer.waitForSync(5000);
    const lists = fake.requests.filter((r) => !r.watch && r.method === 'GET' && r.path.endsWith('/members'));
    expect(lists.map((r) => r.query.limit)).toEqual(['2', '2', '2']);
    expect(lists.map((r) => r.query.continue !== undefined)).toEqual([false, true, true]);
    expect(informer.list().map((o) => o.metadata.name).sort()).toEqual(['m1', 'm2', 'm3', 'm4', 'm5']);
    for (const o of informer.list()) {
      expect(o.metadata.managedFields).toBeUndefined();
      expect(o.metadata.annotations).toEqual({ team: 'blue' });
    }
    await until(() => fake.activeWatches === 1, 'the watch');
    const m6 = member('m6');
    await client.create(gatehouseResource('Member'), 'team-a', { ...m6, metadata: { ...m6.metadata, annotations: { [LAST_APPLIED_ANNOTATION]: '{}' } } });
    await until(() => informer.get('team-a', 'm6') !== undefined, 'm6 through the watch');
    expect(informer.get('team-a', 'm6')?.metadata.annotations).toBeUndefined();
    const written = await client.patch<KubeObject>(gatehouseResource('Member'), 'team-a', 'm1', { apiVersion: API_VERSION, kind: 'Member', metadata: { name: 'm1', namespace: 'team-a', labels: { a: 'b' } } }, { type: 'apply', fieldManager: 'test', force: true });
    informer.observe(written);
    expect(informer.get('team-a', 'm1')?.metadata.managedFields).toBeUndefined();
    expect(informer.get('team-a', 'm1')?.metadata.labels).toEqual({ a: 'b' });
  });
});
