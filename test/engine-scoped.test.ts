// Scoped syncs, as the operator runs them: one or a few objects, the rest of
// the declaration as context. Dependencies missing from the store are written
// with them, objects out of scope are left alone, and an in-scope object that
// is no longer declared is removed per its recorded deletion policy.
import { afterEach, beforeEach, expect, it } from 'vitest';
import type { GatehouseObject, ObjectRef } from '../src/model/kinds.js';
import { syncToStore, type SyncOptions } from '../src/sync/sync.js';
import { aMember, aRole, aSupportGrant, aWorkspace } from '../src/rules/testing/builders.js';
import { listAudit } from '../src/store/audit.js';
import type { Store } from '../src/store/store.js';
import { memberRow, ops, profile, stateOf, syncAll } from './support/engine.js';
import { forEachDialect } from './support/stores.js';

const T0 = '2026-06-01T00:00:00.000Z';
const ref = (kind: ObjectRef['kind'], name: string): ObjectRef => ({ kind, namespace: 'acme', name });

function syncObjects(store: Store, desired: readonly GatehouseObject[], refs: ObjectRef[], options: Partial<SyncOptions> = {}) {
  return syncToStore(store, desired, { at: new Date(T0), actor: 'operator', scope: { type: 'objects', refs }, profile, ...options });
}

const withMeta = <T extends GatehouseObject>(object: T, uid: string, generation: number): T => ({
  ...object,
  metadata: { ...object.metadata, uid, generation, creationTimestamp: '2026-05-31T00:00:00Z' },
});

const workspace = withMeta(aWorkspace({ spec: { admins: { min: 0, max: 1 } } }), 'uid-ws', 1);
const role = withMeta(aRole(), 'uid-role', 1);
const alice = withMeta(aMember({ name: 'alice', spec: { role: 'campaign-analyst' } }), 'uid-alice', 3);
const bob = withMeta(aMember({ name: 'bob', spec: { role: 'admin' } }), 'uid-bob', 1);
const declared: GatehouseObject[] = [workspace, role, alice, bob];

forEachDialect('engine scoped sync', (dialect) => {
  let store: Store;
  beforeEach(async () => {
    store = await dialect.open();
  });
  afterEach(async () => {
    await store.close();
  });

  it('writes a Member together with the Workspace and Role it needs, and reports only the Member', async () => {
    const result = await syncObjects(store, declared, [ref('Member', 'alice')]);
    expect(ops(result)).toEqual([
      'catalog.update permissions',
      'workspace.create acme',
      'role.create acme/admin',
      'role.create acme/manager',
      'role.create acme/editor',
      'role.create acme/viewer',
      'role.create acme/campaign-analyst',
      'member.create acme/alice@acme.example',
    ]);
    expect(result.states.map((s) => `${s.ref.kind}/${s.ref.name}:${s.phase}`)).toEqual(['Member/alice:Invited']);
    expect(result.nextChangeAt?.toISOString()).toBe('2026-06-08T00:00:00.000Z');
    // bob is context only.
    expect(await memberRow(store, 'bob@acme.example')).toBeUndefined();
  });

  it('records the object\'s uid and generation on the row and in the audit log', async () => {
    await syncObjects(store, declared, [ref('Member', 'alice')]);
    expect(await memberRow(store, 'alice@acme.example')).toMatchObject({ source_name: 'alice' });
    const row = await store.db.selectFrom('members').select(['source_uid', 'source_generation']).executeTakeFirstOrThrow();
    expect({ uid: row.source_uid, generation: Number(row.source_generation) }).toEqual({ uid: 'uid-alice', generation: 3 });
    const [entry] = await listAudit(store.db, { object: { kind: 'Member', namespace: 'acme', name: 'alice' } });
    expect(entry).toMatchObject({ actor: 'operator', object: { uid: 'uid-alice', generation: 3 } });
  });

  it('reports workspace and role counts', async () => {
    await syncObjects(store, declared, [ref('Member', 'alice'), ref('Member', 'bob')]);
    const result = await syncObjects(store, declared, [ref('Workspace', 'acme'), ref('Role', 'campaign-analyst')]);
    expect(ops(result)).toEqual([]);
    expect(stateOf(result, 'Workspace', 'acme')).toMatchObject({ phase: 'Ready', memberCount: 2, adminCount: 1, activeSupportGrants: 0 });
    expect(stateOf(result, 'Role', 'campaign-analyst')).toMatchObject({ phase: 'Ready', memberCount: 1 });
  });

  it('leaves objects out of scope alone, drift included', async () => {
    await syncObjects(store, declared, [ref('Member', 'alice'), ref('Member', 'bob')]);
    await store.db.updateTable('members').set({ role_id: 'viewer' }).where('email_normalized', '=', 'bob@acme.example').execute();
    expect(ops(await syncObjects(store, declared, [ref('Member', 'alice')]))).toEqual([]);
    expect(ops(await syncObjects(store, declared, [ref('Member', 'bob')]))).toEqual(['member.update acme/bob@acme.example']);
  });

  it('removes an in-scope object that is no longer declared, per its recorded deletion policy', async () => {
    const orphanBob = withMeta(aMember({ name: 'bob', spec: { role: 'admin', deletionPolicy: 'Orphan' } }), 'uid-bob', 2);
    await syncObjects(store, [workspace, role, alice, orphanBob], [ref('Member', 'alice'), ref('Member', 'bob')]);
    const gone = [workspace, role];
    const removed = await syncObjects(store, gone, [ref('Member', 'alice'), ref('Member', 'bob')]);
    expect(ops(removed)).toEqual(['member.delete acme/alice@acme.example', 'member.forget acme/bob@acme.example']);
    expect(removed.states.map((s) => `${s.ref.name}:${s.reason}`).sort()).toEqual(['alice:Removed', 'bob:Orphaned']);
    expect(await memberRow(store, 'alice@acme.example')).toBeUndefined();
    expect((await memberRow(store, 'bob@acme.example'))?.managed).toBeFalsy();
    // A second cleanup of the same refs finds nothing to do.
    expect(ops(await syncObjects(store, gone, [ref('Member', 'alice'), ref('Member', 'bob')]))).toEqual([]);
  });

  it('deleting a Workspace removes everything in it, with no guard for an explicit deletion', async () => {
    await syncObjects(store, declared, [ref('Member', 'alice'), ref('Member', 'bob')]);
    const result = await syncObjects(store, [role, alice, bob], [ref('Workspace', 'acme')]);
    expect(ops(result)).toEqual(['workspace.delete acme']);
    expect(result.plan.actions[0]).toMatchObject({ cascade: { members: 2, roles: 5, supportGrants: 0 } });
    expect(await memberRow(store, 'alice@acme.example')).toBeUndefined();
    // Its members then report that their Workspace is missing.
    const orphaned = await syncObjects(store, [role, alice, bob], [ref('Member', 'alice')]);
    expect(stateOf(orphaned, 'Member', 'alice')).toMatchObject({ phase: 'Failed', reason: 'UnknownWorkspace' });
  });

  it('never writes an in-scope object with rule errors, nor what depends on a Workspace that cannot be written', async () => {
    const badWorkspace = withMeta(aWorkspace({ spec: { admins: { min: 0, max: 1 }, ipAllowlist: ['not-a-cidr'] } }), 'uid-ws', 2);
    const result = await syncObjects(store, [badWorkspace, role, alice, bob], [ref('Member', 'bob'), ref('Workspace', 'acme')]);
    expect(ops(result)).toEqual(['catalog.update permissions']);
    expect(stateOf(result, 'Workspace', 'acme')).toMatchObject({ phase: 'Failed', reason: 'InvalidCidr' });
    expect(stateOf(result, 'Member', 'bob')).toMatchObject({ phase: 'Pending', reason: 'DependencyNotReady' });
  });

  it('schedules the next expiry of what is in scope', async () => {
    const grant = withMeta(aSupportGrant({ name: 'ticket', spec: { startsAt: '2026-06-02T00:00:00Z', duration: '24h' } }), 'uid-grant', 1);
    const result = await syncObjects(store, [...declared, grant], [ref('SupportGrant', 'ticket')]);
    expect(stateOf(result, 'SupportGrant', 'ticket')).toMatchObject({ phase: 'Pending', reason: 'Scheduled' });
    expect(result.nextChangeAt?.toISOString()).toBe('2026-06-02T00:00:00.000Z');
  });

  it('reports each object\'s own next change, as the plan found it', async () => {
    const temporary = withMeta(aMember({ name: 'carol', spec: { email: 'carol@acme.example', expiresAt: '2026-06-03T00:00:00Z' } }), 'uid-carol', 1);
    const grant = withMeta(aSupportGrant({ name: 'ticket', spec: { startsAt: '2026-06-02T00:00:00Z', duration: '24h' } }), 'uid-grant', 1);
    const result = await syncObjects(store, [...declared, temporary, grant], [ref('Member', 'alice'), ref('Member', 'carol'), ref('SupportGrant', 'ticket')]);
    expect(Object.fromEntries([...result.nextChangeAtByRef].map(([key, at]) => [key, at.toISOString()]))).toEqual({
      // The invitation expires after the workspace's 7 days; carol's access ends first.
      'Member/acme/alice': '2026-06-08T00:00:00.000Z',
      'Member/acme/carol': '2026-06-03T00:00:00.000Z',
      'SupportGrant/acme/ticket': '2026-06-02T00:00:00.000Z',
    });
    expect(result.nextChangeAt?.toISOString()).toBe('2026-06-02T00:00:00.000Z');
  });

  it('keeps a deleted Role that members in the store still have (RoleInUse), counting them for that batch only', async () => {
    await syncObjects(store, declared, [ref('Member', 'alice')]);
    const result = await syncObjects(store, [workspace, alice, bob], [ref('Role', 'campaign-analyst')]);
    expect(ops(result)).toEqual([]);
    expect(stateOf(result, 'Role', 'campaign-analyst')).toMatchObject({ phase: 'Terminating', reason: 'RoleInUse' });
  });

  it('agrees with a full sync', async () => {
    for (const object of declared) await syncObjects(store, declared, [{ kind: object.kind, namespace: 'acme', name: object.metadata.name }]);
    expect(ops(await syncAll(store, declared, T0, { actor: 'operator' }))).toEqual([]);
  });
});

forEachDialect('engine with malformed declarations', (dialect) => {
  let store: Store;
  beforeEach(async () => {
    store = await dialect.open();
  });
  afterEach(async () => {
    await store.close();
  });

  const malformed = [
    { apiVersion: 'gatehouse.dev/v1alpha1', kind: 'Member', metadata: { name: 'no-spec', namespace: 'acme' } },
    { apiVersion: 'gatehouse.dev/v1alpha1', kind: 'Member', metadata: { name: 'bad-types', namespace: 'acme' }, spec: { workspaceRef: 7, email: ['x'] } },
    { apiVersion: 'gatehouse.dev/v1alpha1', kind: 'Workspace', metadata: { name: 'broken', namespace: 'acme' }, spec: { workspaceId: 42 } },
    { apiVersion: 'gatehouse.dev/v1alpha1', kind: 'Role', spec: null },
  ] as unknown as GatehouseObject[];

  it('never throws on malformed objects: they are held, the rest is written', async () => {
    const result = await syncAll(store, [...declared, ...malformed], T0);
    expect(ops(result)).toContain('member.create acme/alice@acme.example');
    for (const name of ['no-spec', 'bad-types', 'broken']) {
      expect(result.states.find((s) => s.ref.name === name)).toMatchObject({ phase: 'Failed', reason: 'SchemaInvalid', ready: false });
    }
    const scoped = await syncObjects(store, [...declared, ...malformed], [ref('Member', 'no-spec'), ref('Member', 'bad-types'), ref('Member', 'bob')]);
    expect(scoped.states.map((s) => `${s.ref.name}:${s.reason}`).sort()).toEqual(['bad-types:SchemaInvalid', 'bob:Invited', 'no-spec:SchemaInvalid']);
  });
});
