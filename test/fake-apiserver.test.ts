// The fake API server, driven through the real @kubernetes/client-node: each
// behaviour the operator relies on, checked the way the operator uses it.
import {
  ApiException,
  AuthorizationV1Api,
  CoordinationV1Api,
  CustomObjectsApi,
  KubernetesObjectApi,
  PatchStrategy,
  Watch,
  makeInformer,
  setHeaderOptions,
  type KubernetesObject,
} from '@kubernetes/client-node';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeApiServer } from './support/fake-apiserver/index.js';
import { eventually } from './support/eventually.js';

const GROUP = 'gatehouse.dev';
const VERSION = 'v1alpha1';
const API_VERSION = `${GROUP}/${VERSION}`;

interface MemberDoc extends KubernetesObject {
  spec: Record<string, unknown>;
  status?: Record<string, unknown>;
}

function member(name: string, overrides: { namespace?: string; labels?: Record<string, string>; spec?: Record<string, unknown>; finalizers?: string[] } = {}): MemberDoc {
  return {
    apiVersion: API_VERSION,
    kind: 'Member',
    metadata: {
      name,
      namespace: overrides.namespace ?? 'team-a',
      ...(overrides.labels ? { labels: overrides.labels } : {}),
      ...(overrides.finalizers ? { finalizers: overrides.finalizers } : {}),
    },
    spec: { workspaceRef: { name: 'acme' }, email: `${name}@example.com`, displayName: `Person ${name}`, role: 'viewer', ...overrides.spec },
  };
}

/** The Status body of a failed call, whatever the client-node API threw. */
function statusOf(err: unknown): { code: number; reason: string; message: string; details?: { causes?: Array<{ field: string }> } } {
  if (!(err instanceof ApiException)) throw err;
  const body = typeof err.body === 'string' ? (JSON.parse(err.body) as Record<string, unknown>) : (err.body as Record<string, unknown>);
  return { code: err.code, reason: String(body.reason), message: String(body.message), details: body.details as { causes?: Array<{ field: string }> } };
}

async function failure(promise: Promise<unknown>): Promise<ReturnType<typeof statusOf>> {
  try {
    await promise;
  } catch (err) {
    return statusOf(err);
  }
  throw new Error('expected the call to fail');
}

const until = (condition: () => boolean, what: string, timeoutMs = 5000) => eventually(condition, what, timeoutMs);

interface WatchEvent {
  type: string;
  object: { metadata?: { name?: string; resourceVersion?: string }; code?: number; reason?: string };
}

/** Opens a watch with the real client and collects its events. */
async function collectWatch(fake: FakeApiServer, path: string, query: Record<string, string | boolean>) {
  const events: WatchEvent[] = [];
  let doneWith: unknown = 'open';
  const watch = new Watch(fake.kubeConfig());
  const controller = await watch.watch(
    path,
    query,
    (type, object) => events.push({ type, object: object as WatchEvent['object'] }),
    (err) => {
      doneWith = err ?? null;
    },
  );
  return { events, done: () => doneWith !== 'open', error: () => doneWith, abort: () => controller.abort() };
}

describe('fake API server', () => {
  let fake: FakeApiServer;
  let objects: KubernetesObjectApi;
  let custom: CustomObjectsApi;

  beforeEach(async () => {
    fake = await FakeApiServer.start();
    objects = KubernetesObjectApi.makeApiClient(fake.kubeConfig());
    custom = fake.kubeConfig().makeApiClient(CustomObjectsApi);
  });
  afterEach(async () => {
    await fake.stop();
  });

  describe('create, read, conflicts', () => {
    it('creates through discovery with uid, creationTimestamp, generation 1 and a resourceVersion', async () => {
      const created = await objects.create(member('alice'));
      expect(created.metadata?.uid).toMatch(/^[0-9a-f-]{36}$/);
      expect(created.metadata?.creationTimestamp).toBeDefined();
      expect(created.metadata?.generation).toBe(1);
      expect(Number(created.metadata?.resourceVersion)).toBeGreaterThan(0);
      const read = await objects.read({ apiVersion: API_VERSION, kind: 'Member', metadata: { name: 'alice', namespace: 'team-a' } });
      expect(read.metadata?.uid).toBe(created.metadata?.uid);
    });

    it('drops status on create of a kind with a status subresource', async () => {
      const created = await objects.create({ ...member('alice'), status: { phase: 'Active' } } as MemberDoc);
      expect((created as MemberDoc).status).toBeUndefined();
    });

    it.each([
      ['create of an existing name', 409, 'AlreadyExists'],
      ['read of a missing object', 404, 'NotFound'],
    ])('%s answers %i %s with a Status body', async (what, code, reason) => {
      await objects.create(member('alice'));
      const status =
        reason === 'AlreadyExists'
          ? await failure(objects.create(member('alice')))
          : await failure(objects.read({ apiVersion: API_VERSION, kind: 'Member', metadata: { name: 'nobody', namespace: 'team-a' } }));
      expect({ what, code: status.code, reason: status.reason }).toEqual({ what, code, reason });
    });

    it('refuses an update with a stale resourceVersion (409 Conflict) and one without any (422)', async () => {
      const created = await objects.create(member('alice'));
      const first = await objects.replace({ ...created, spec: { ...(created as MemberDoc).spec, role: 'editor' } } as MemberDoc);
      expect(Number(first.metadata?.resourceVersion)).toBeGreaterThan(Number(created.metadata?.resourceVersion));
      const stale = await failure(objects.replace({ ...created, spec: { ...(created as MemberDoc).spec, role: 'admin' } } as MemberDoc));
      expect(stale.code).toBe(409);
      expect(stale.reason).toBe('Conflict');
      const withoutRv = { ...first, metadata: { ...first.metadata, resourceVersion: undefined } } as MemberDoc;
      expect((await failure(objects.replace(withoutRv))).code).toBe(422);
    });

    it('treats a resourceVersion in a merge patch as a precondition', async () => {
      const created = await objects.create(member('alice'));
      await objects.patch(member('alice', { spec: { role: 'editor' } }), undefined, undefined, 'test', undefined, PatchStrategy.MergePatch);
      const status = await failure(
        objects.patch(
          { apiVersion: API_VERSION, kind: 'Member', metadata: { name: 'alice', namespace: 'team-a', resourceVersion: created.metadata?.resourceVersion } },
          undefined,
          undefined,
          'test',
          undefined,
          PatchStrategy.MergePatch,
        ),
      );
      expect(status.code).toBe(409);
    });

    it('uses one global resourceVersion across kinds and bumps it on every write', async () => {
      const a = await objects.create(member('alice'));
      const lease = await objects.create({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: 'l', namespace: 'ops' }, spec: {} } as KubernetesObject);
      const b = await objects.create(member('bob'));
      const rvs = [a, lease, b].map((o) => Number(o.metadata?.resourceVersion));
      expect(rvs[1]).toBeGreaterThan(rvs[0] as number);
      expect(rvs[2]).toBeGreaterThan(rvs[1] as number);
      expect(fake.resourceVersion).toBe(String(rvs[2]));
    });

    it('rejects requests without the bearer token (401)', async () => {
      const response = await fetch(`${fake.url}/apis/${API_VERSION}/members`);
      expect(response.status).toBe(401);
    });

    it('validates Gatehouse objects against the CRD schema (422 Invalid with causes)', async () => {
      const status = await failure(objects.create(member('alice', { spec: { email: 'not-an-email', surprise: true } })));
      expect(status.code).toBe(422);
      expect(status.reason).toBe('Invalid');
      const fields = (status.details?.causes ?? []).map((c) => c.field);
      expect(fields).toEqual(expect.arrayContaining(['spec.email']));
      expect(status.message).toContain('Member.gatehouse.dev "alice" is invalid');
    });
  });

  describe('defaulting', () => {
    it('fills in schema defaults before validating, as the real server does for CRDs', async () => {
      const created = (await objects.create({
        apiVersion: API_VERSION,
        kind: 'Workspace',
        metadata: { name: 'acme', namespace: 'team-a' },
        spec: { workspaceId: 'acme', displayName: 'Acme', supportAccess: { allowed: true } },
      } as MemberDoc)) as MemberDoc;
      expect(created.spec.supportAccess).toEqual({ allowed: true, maxDuration: '720h', allowReadWrite: false });
      expect(created.spec.twoFactor).toBe('Required');
      expect(created.spec.admins).toBeUndefined();
    });
  });

  describe('generation and the status subresource', () => {
    it('bumps metadata.generation on spec changes only', async () => {
      const created = await objects.create(member('alice'));
      const labelled = await objects.patch(member('alice', { labels: { team: 'x' } }), undefined, undefined, 't', undefined, PatchStrategy.MergePatch);
      expect(labelled.metadata?.generation).toBe(1);
      expect(labelled.metadata?.resourceVersion).not.toBe(created.metadata?.resourceVersion);
      const changed = await objects.patch(member('alice', { spec: { role: 'editor' } }), undefined, undefined, 't', undefined, PatchStrategy.MergePatch);
      expect(changed.metadata?.generation).toBe(2);
    });

    it('changes only status through /status: spec ignored, generation untouched', async () => {
      await objects.create(member('alice'));
      const updated = (await custom.patchNamespacedCustomObjectStatus(
        { group: GROUP, version: VERSION, namespace: 'team-a', plural: 'members', name: 'alice', body: { spec: { role: 'admin' }, status: { phase: 'Active' } }, fieldManager: 'gatehouse' },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      )) as MemberDoc;
      expect(updated.status).toEqual({ phase: 'Active' });
      expect(updated.spec.role).toBe('viewer');
      expect(updated.metadata?.generation).toBe(1);
    });

    it('ignores status written through the main resource', async () => {
      await objects.create(member('alice'));
      const patched = (await objects.patch(
        { ...member('alice'), status: { phase: 'Active' } } as MemberDoc,
        undefined,
        undefined,
        't',
        undefined,
        PatchStrategy.MergePatch,
      )) as MemberDoc;
      expect(patched.status).toBeUndefined();
    });

    it('does not write (same resourceVersion) when an update changes nothing', async () => {
      await objects.create(member('alice'));
      const patch = () =>
        custom.patchNamespacedCustomObjectStatus(
          { group: GROUP, version: VERSION, namespace: 'team-a', plural: 'members', name: 'alice', body: { status: { phase: 'Active' } }, fieldManager: 'gatehouse' },
          setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
        ) as Promise<MemberDoc>;
      const first = await patch();
      const second = await patch();
      expect(second.metadata?.resourceVersion).toBe(first.metadata?.resourceVersion);
    });
  });

  describe('finalizers and deletion', () => {
    it('holds an object with finalizers until the last one is removed, then it is gone', async () => {
      await objects.create(member('alice', { finalizers: ['gatehouse.dev/identity-store'] }));
      const watch = await collectWatch(fake, `/apis/${API_VERSION}/namespaces/team-a/members`, { resourceVersion: fake.resourceVersion });
      await objects.delete({ apiVersion: API_VERSION, kind: 'Member', metadata: { name: 'alice', namespace: 'team-a' } });
      const marked = (await objects.read({ apiVersion: API_VERSION, kind: 'Member', metadata: { name: 'alice', namespace: 'team-a' } })) as MemberDoc;
      expect(marked.metadata?.deletionTimestamp).toBeDefined();

      const refused = await failure(
        objects.patch(member('alice', { finalizers: ['gatehouse.dev/identity-store', 'other/finalizer'] }), undefined, undefined, 't', undefined, PatchStrategy.MergePatch),
      );
      expect(refused.code).toBe(422);
      expect(refused.message).toContain('no new finalizers');

      await objects.patch(
        { apiVersion: API_VERSION, kind: 'Member', metadata: { name: 'alice', namespace: 'team-a', finalizers: [] } },
        undefined,
        undefined,
        't',
        undefined,
        PatchStrategy.MergePatch,
      );
      const gone = await failure(objects.read({ apiVersion: API_VERSION, kind: 'Member', metadata: { name: 'alice', namespace: 'team-a' } }));
      expect(gone.code).toBe(404);
      await until(() => watch.events.length >= 2, 'MODIFIED and DELETED events');
      expect(watch.events.map((e) => e.type)).toEqual(['MODIFIED', 'DELETED']);
      watch.abort();
    });

    it('deletes at once without finalizers', async () => {
      await objects.create(member('alice'));
      await objects.delete({ apiVersion: API_VERSION, kind: 'Member', metadata: { name: 'alice', namespace: 'team-a' } });
      expect(fake.get(API_VERSION, 'Member', 'team-a', 'alice')).toBeUndefined();
    });
  });

  describe('list and watch', () => {
    it('lists with a resourceVersion and streams changes after it', async () => {
      await objects.create(member('alice'));
      const list = (await custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: 'team-a', plural: 'members' })) as {
        metadata: { resourceVersion: string };
        items: MemberDoc[];
      };
      expect(list.items.map((i) => i.metadata?.name)).toEqual(['alice']);
      await objects.create(member('bob'));
      const watch = await collectWatch(fake, `/apis/${API_VERSION}/namespaces/team-a/members`, { resourceVersion: list.metadata.resourceVersion });
      await until(() => watch.events.length >= 1, 'replayed ADDED');
      await objects.patch(member('bob', { spec: { role: 'editor' } }), undefined, undefined, 't', undefined, PatchStrategy.MergePatch);
      await objects.delete({ apiVersion: API_VERSION, kind: 'Member', metadata: { name: 'bob', namespace: 'team-a' } });
      await until(() => watch.events.length >= 3, 'three events');
      expect(watch.events.map((e) => `${e.type} ${e.object.metadata?.name}`)).toEqual(['ADDED bob', 'MODIFIED bob', 'DELETED bob']);
      watch.abort();
    });

    it('starts a watch without a resourceVersion with ADDED for what exists', async () => {
      await objects.create(member('alice'));
      const watch = await collectWatch(fake, `/apis/${API_VERSION}/members`, {});
      await until(() => watch.events.length >= 1, 'synthetic ADDED');
      expect(watch.events[0]?.type).toBe('ADDED');
      watch.abort();
    });

    it('sends BOOKMARK events to watches that allow them', async () => {
      const watch = await collectWatch(fake, `/apis/${API_VERSION}/members`, { resourceVersion: fake.resourceVersion, allowWatchBookmarks: true });
      await until(() => fake.activeWatches === 1, 'watch registered');
      fake.sendBookmarks();
      await until(() => watch.events.length >= 1, 'bookmark');
      expect(watch.events[0]).toMatchObject({ type: 'BOOKMARK', object: { metadata: { resourceVersion: fake.resourceVersion } } });
      watch.abort();
    });

    it('answers a watch from compacted history with an ERROR event carrying 410 Gone', async () => {
      const created = await objects.create(member('alice'));
      await objects.create(member('bob'));
      fake.compactHistory();
      const watch = await collectWatch(fake, `/apis/${API_VERSION}/members`, { resourceVersion: created.metadata?.resourceVersion as string });
      await until(() => watch.done(), 'the watch to end');
      expect(watch.events).toEqual([{ type: 'ERROR', object: expect.objectContaining({ code: 410, reason: 'Expired' }) }]);
    });

    it('ends open watches abruptly on dropWatches', async () => {
      const watch = await collectWatch(fake, `/apis/${API_VERSION}/members`, { resourceVersion: fake.resourceVersion });
      await until(() => fake.activeWatches === 1, 'watch registered');
      fake.dropWatches();
      await until(() => watch.done(), 'the watch to end');
      expect(fake.activeWatches).toBe(0);
    });

    it('closes a watch after timeoutSeconds', async () => {
      const watch = await collectWatch(fake, `/apis/${API_VERSION}/members`, { resourceVersion: fake.resourceVersion, timeoutSeconds: '1' });
      await until(() => watch.done(), 'the watch to time out', 3000);
      expect(watch.error()).toBeNull();
    });

    it('filters lists and watches by label and field selectors, and by namespace', async () => {
      await objects.create(member('alice', { labels: { tier: 'gold' } }));
      await objects.create(member('bob', { labels: { tier: 'silver' } }));
      await objects.create(member('carol', { namespace: 'team-b', labels: { tier: 'gold' } }));
      const names = async (query: { namespace?: string; labelSelector?: string; fieldSelector?: string }) => {
        const list = (query.namespace
          ? await custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, plural: 'members', namespace: query.namespace, ...query })
          : await custom.listCustomObjectForAllNamespaces({ group: GROUP, version: VERSION, resourcePlural: 'members', ...query })) as { items: MemberDoc[] };
        return list.items.map((i) => i.metadata?.name);
      };
      expect(await names({})).toEqual(['alice', 'bob', 'carol']);
      expect(await names({ namespace: 'team-a' })).toEqual(['alice', 'bob']);
      expect(await names({ labelSelector: 'tier=gold' })).toEqual(['alice', 'carol']);
      expect(await names({ labelSelector: 'tier!=gold' })).toEqual(['bob']);
      expect(await names({ labelSelector: 'tier in (silver,bronze)' })).toEqual(['bob']);
      expect(await names({ fieldSelector: 'metadata.name=bob' })).toEqual(['bob']);
      expect(await names({ fieldSelector: 'metadata.namespace=team-b' })).toEqual(['carol']);
      const unsupported = await failure(custom.listCustomObjectForAllNamespaces({ group: GROUP, version: VERSION, resourcePlural: 'members', fieldSelector: 'spec.email=x' }));
      expect(unsupported.code).toBe(400);

      const watch = await collectWatch(fake, `/apis/${API_VERSION}/members`, { resourceVersion: fake.resourceVersion, labelSelector: 'tier=gold' });
      await until(() => fake.activeWatches === 1, 'watch registered');
      await objects.patch(member('bob', { labels: { tier: 'gold' } }), undefined, undefined, 't', undefined, PatchStrategy.MergePatch);
      await objects.patch(member('alice', { labels: { tier: 'silver' } }), undefined, undefined, 't', undefined, PatchStrategy.MergePatch);
      await until(() => watch.events.length >= 2, 'selector events');
      // Entering the selector is ADDED, leaving it is DELETED, as with the real server.
      expect(watch.events.map((e) => `${e.type} ${e.object.metadata?.name}`)).toEqual(['ADDED bob', 'DELETED alice']);
      watch.abort();
    });

    it('pages a list with limit and continue', async () => {
      for (const name of ['a1', 'a2', 'a3']) await objects.create(member(name));
      const first = (await custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: 'team-a', plural: 'members', limit: 2 })) as {
        metadata: { continue?: string };
        items: MemberDoc[];
      };
      expect(first.items).toHaveLength(2);
      const second = (await custom.listNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        namespace: 'team-a',
        plural: 'members',
        limit: 2,
        _continue: first.metadata.continue as string,
      })) as { metadata: { continue?: string }; items: MemberDoc[] };
      expect(second.items.map((i) => i.metadata?.name)).toEqual(['a3']);
      expect(second.metadata.continue).toBeUndefined();
    });
  });

  describe('informers (client-node makeInformer)', () => {
    it('keeps its cache through a 410 Gone: it relists', async () => {
      await objects.create(member('alice'));
      const kc = fake.kubeConfig();
      const path = `/apis/${API_VERSION}/members`;
      const informer = makeInformer(kc, path, () => custom.listCustomObjectForAllNamespaces({ group: GROUP, version: VERSION, resourcePlural: 'members' }));
      informer.on('error', () => undefined);
      await informer.start();
      await until(() => informer.list().length === 1, 'initial list');
      const lists = () => fake.requests.filter((r) => r.method === 'GET' && !r.watch && r.path.endsWith('/members')).length;
      expect(lists()).toBe(1);
      // Stopped, the informer keeps its resourceVersion; meanwhile history is compacted.
      await informer.stop();
      await objects.create(member('bob'));
      fake.compactHistory();
      // Restarted, it watches from that now-compacted resourceVersion: 410, then a relist.
      await informer.start();
      await until(() => informer.list().length === 2, 'bob in the cache after relist', 8000);
      await informer.stop();
      expect(lists()).toBe(2);
    });
  });

  describe('patch content types', () => {
    it('applies JSON patch (RFC 6902), failing a "test" op with 422', async () => {
      await objects.create(member('alice'));
      const api = custom;
      const patched = (await api.patchNamespacedCustomObject(
        {
          group: GROUP,
          version: VERSION,
          namespace: 'team-a',
          plural: 'members',
          name: 'alice',
          body: [
            { op: 'test', path: '/spec/role', value: 'viewer' },
            { op: 'replace', path: '/spec/role', value: 'editor' },
            { op: 'add', path: '/metadata/finalizers', value: ['x/y'] },
          ],
        },
        setHeaderOptions('Content-Type', PatchStrategy.JsonPatch),
      )) as MemberDoc;
      expect(patched.spec.role).toBe('editor');
      expect(patched.metadata?.finalizers).toEqual(['x/y']);
      const failed = await failure(
        api.patchNamespacedCustomObject(
          { group: GROUP, version: VERSION, namespace: 'team-a', plural: 'members', name: 'alice', body: [{ op: 'test', path: '/spec/role', value: 'viewer' }] },
          setHeaderOptions('Content-Type', PatchStrategy.JsonPatch),
        ),
      );
      expect(failed.code).toBe(422);
    });

    it('refuses strategic merge patch on custom resources (415) but takes it on built-ins', async () => {
      await objects.create(member('alice'));
      const refused = await failure(objects.patch(member('alice', { spec: { role: 'editor' } }), undefined, undefined, 't', undefined, PatchStrategy.StrategicMergePatch));
      expect(refused.code).toBe(415);
      const coordination = fake.kubeConfig().makeApiClient(CoordinationV1Api);
      await coordination.createNamespacedLease({ namespace: 'ops', body: { metadata: { name: 'l' }, spec: { holderIdentity: 'a' } } });
      const lease = await coordination.patchNamespacedLease(
        { namespace: 'ops', name: 'l', body: { spec: { holderIdentity: 'b' } } },
        setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch),
      );
      expect(lease.spec?.holderIdentity).toBe('b');
    });

    it('server-side apply: creates, records managedFields, conflicts with another manager unless forced', async () => {
      const applied = await objects.patch(member('alice'), undefined, undefined, 'gitops', undefined, PatchStrategy.ServerSideApply);
      expect(applied.metadata?.managedFields?.map((m) => [m.manager, m.operation])).toEqual([['gitops', 'Apply']]);
      const conflict = await failure(objects.patch(member('alice', { spec: { role: 'admin' } }), undefined, undefined, 'other', undefined, PatchStrategy.ServerSideApply));
      expect(conflict.code).toBe(409);
      expect(conflict.message).toContain('conflict with "gitops"');
      expect(conflict.message).toContain('.spec.role');
      // The same value is no conflict: both managers own it.
      await objects.patch(member('alice'), undefined, undefined, 'other', undefined, PatchStrategy.ServerSideApply);
      const forced = (await objects.patch(member('alice', { spec: { role: 'admin' } }), undefined, undefined, 'other', true, PatchStrategy.ServerSideApply)) as MemberDoc;
      expect(forced.spec.role).toBe('admin');
      expect(forced.metadata?.generation).toBe(2);
    });

    it('server-side apply removes a field the manager no longer applies', async () => {
      await objects.patch(member('alice', { spec: { phone: '+4930123456' } }), undefined, undefined, 'gitops', undefined, PatchStrategy.ServerSideApply);
      const again = (await objects.patch(member('alice'), undefined, undefined, 'gitops', undefined, PatchStrategy.ServerSideApply)) as MemberDoc;
      expect(again.spec.phone).toBeUndefined();
    });

    it('server-side apply needs a fieldManager', async () => {
      const status = await failure(objects.patch(member('alice'), undefined, undefined, undefined, undefined, PatchStrategy.ServerSideApply));
      expect(status.code).toBe(400);
    });

    it('server-side apply on /status touches only status', async () => {
      await objects.create(member('alice'));
      const result = (await custom.patchNamespacedCustomObjectStatus(
        {
          group: GROUP,
          version: VERSION,
          namespace: 'team-a',
          plural: 'members',
          name: 'alice',
          body: { apiVersion: API_VERSION, kind: 'Member', metadata: { name: 'alice', namespace: 'team-a' }, spec: { role: 'admin' }, status: { phase: 'Invited' } },
          fieldManager: 'gatehouse',
          force: true,
        },
        setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply),
      )) as MemberDoc;
      expect(result.status).toEqual({ phase: 'Invited' });
      expect(result.spec.role).toBe('viewer');
      expect(result.metadata?.managedFields?.find((m) => m.manager === 'gatehouse')?.subresource).toBe('status');
    });
  });

  describe('dry run, injected failures, request log, SubjectAccessReview', () => {
    it('validates and answers on dryRun=All without storing', async () => {
      const answer = await objects.create(member('alice'), undefined, 'All');
      expect(answer.metadata?.name).toBe('alice');
      expect(fake.get(API_VERSION, 'Member', 'team-a', 'alice')).toBeUndefined();
      const rv = fake.resourceVersion;
      await objects.create(member('bob'));
      await objects.patch(member('bob', { spec: { role: 'editor' } }), undefined, 'All', 't', undefined, PatchStrategy.MergePatch);
      expect(fake.get(API_VERSION, 'Member', 'team-a', 'bob')?.spec).toMatchObject({ role: 'viewer' });
      expect(Number(fake.resourceVersion)).toBe(Number(rv) + 1);
    });

    it('fails the next matching requests with the injected status, then recovers', async () => {
      await objects.create(member('alice'));
      fake.failNext('PATCH', /\/members\/alice\/status/, 409, { times: 2 });
      const call = () =>
        custom.patchNamespacedCustomObjectStatus(
          { group: GROUP, version: VERSION, namespace: 'team-a', plural: 'members', name: 'alice', body: { status: { phase: 'Active' } } },
          setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
        );
      expect((await failure(call())).code).toBe(409);
      expect((await failure(call())).code).toBe(409);
      await call();
      expect(fake.requestCount('PATCH', /\/members\/alice\/status/)).toBe(3);
      expect(fake.requests.filter((r) => r.method === 'PATCH').map((r) => r.status)).toEqual([409, 409, 200]);
    });

    it('answers SubjectAccessReviews with the pluggable authorizer', async () => {
      fake.setAuthorizer((spec) =>
        spec.user === 'alice' && spec.resourceAttributes?.verb === 'escalate' ? { allowed: true } : { allowed: false, reason: 'no' },
      );
      const authz = fake.kubeConfig().makeApiClient(AuthorizationV1Api);
      const review = (user: string) =>
        authz.createSubjectAccessReview({
          body: { spec: { user, resourceAttributes: { group: GROUP, resource: 'roles', verb: 'escalate', namespace: 'team-a' } } },
        });
      expect((await review('alice')).status?.allowed).toBe(true);
      const denied = await review('mallory');
      expect(denied.status).toMatchObject({ allowed: false, reason: 'no' });
    });

    it('serves cluster-scoped and core resources', async () => {
      await objects.create({
        apiVersion: 'admissionregistration.k8s.io/v1',
        kind: 'ValidatingWebhookConfiguration',
        metadata: { name: 'gatehouse' },
        webhooks: [],
      } as KubernetesObject);
      await objects.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team-a' } });
      await objects.create({ apiVersion: 'v1', kind: 'Event', metadata: { name: 'e1', namespace: 'team-a' }, reason: 'Invited' } as KubernetesObject);
      await objects.create({ apiVersion: 'events.k8s.io/v1', kind: 'Event', metadata: { name: 'e2', namespace: 'team-a' }, reason: 'Invited' } as KubernetesObject);
      expect(fake.list('admissionregistration.k8s.io/v1', 'ValidatingWebhookConfiguration')).toHaveLength(1);
      expect(fake.list('v1', 'Event', 'team-a')).toHaveLength(1);
      expect(fake.list('events.k8s.io/v1', 'Event', 'team-a')).toHaveLength(1);
    });

    it('passes writes through an admission hook that can deny them', async () => {
      fake.setAdmission((attrs) =>
        attrs.operation === 'CREATE' && (attrs.object?.spec as { role?: string }).role === 'admin' ? { allowed: false, message: 'TooManyAdmins' } : { allowed: true },
      );
      const denied = await failure(objects.create(member('alice', { spec: { role: 'admin' } })));
      expect(denied.code).toBe(403);
      expect(denied.message).toContain('TooManyAdmins');
      await objects.create(member('bob'));
    });
  });
});
