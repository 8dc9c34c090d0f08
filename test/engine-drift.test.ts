// Drift (rows edited or deleted by hand) is found and reverted, and audited as
// drift; removals follow the recorded deletion policy; the mass-removal guard;
// rows owned by another object are never overwritten.
import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { GatehouseObject } from '../src/model/kinds.js';
import { MassRemovalError, syncToStore } from '../src/sync/sync.js';
import { aMember, aRole, aWorkspace } from '../src/rules/testing/builders.js';
import { listAudit } from '../src/store/audit.js';
import type { Store } from '../src/store/store.js';
import { memberRow, ops, profile, snapshot, stateOf, syncAll } from './support/engine.js';
import { forEachDialect } from './support/stores.js';

const T0 = '2026-06-01T00:00:00.000Z';
const T1 = '2026-06-01T01:00:00.000Z';

const workspace = aWorkspace({ spec: { admins: { min: 0, max: 1 } } });
const members = ['alice', 'bob', 'carol', 'dave'].map((name) => aMember({ name }));
const base: GatehouseObject[] = [workspace, aRole(), ...members];

forEachDialect('engine drift and removal', (dialect) => {
  let store: Store;
  beforeEach(async () => {
    store = await dialect.open();
    await syncAll(store, base, T0);
  });
  afterEach(async () => {
    await store.close();
  });

  describe('drift', () => {
    it('reverts a role changed by hand and audits the revert as drift', async () => {
      await store.db.updateTable('members').set({ role_id: 'admin' }).where('email_normalized', '=', 'bob@acme.example').execute();
      const plan = await syncAll(store, base, T1, { dryRun: true });
      const action = plan.plan.actions.find((a) => a.key === 'acme/bob@acme.example');
      expect(action).toMatchObject({ op: 'update', drift: true, changes: [{ field: 'roleId', from: 'admin', to: 'viewer' }] });
      expect(action?.reason).toMatch(/changed outside Gatehouse \(roleId\)/);

      await syncAll(store, base, T1);
      expect((await memberRow(store, 'bob@acme.example'))?.role_id).toBe('viewer');
      const [entry] = await listAudit(store.db, { object: { kind: 'Member', namespace: 'acme', name: 'bob' }, newestFirst: true, limit: 1 });
      expect(entry).toMatchObject({ action: 'member.update', before: { roleId: 'admin' }, after: { roleId: 'viewer' } });
      expect(entry?.reason).toMatch(/^drift: changed outside Gatehouse/);
      expect(ops(await syncAll(store, base, T1))).toEqual([]);
    });

    it('reverts an expires_at changed by hand', async () => {
      await store.db.updateTable('members').set({ expires_at: '2030-01-01T00:00:00.000Z' }).where('email_normalized', '=', 'carol@acme.example').execute();
      const result = await syncAll(store, base, T1);
      expect(result.plan.actions).toMatchObject([{ op: 'update', key: 'acme/carol@acme.example', drift: true, changes: [{ field: 'expiresAt' }] }]);
      expect((await memberRow(store, 'carol@acme.example'))?.expires_at).toBeNull();
    });

    it('recreates a member deleted by hand, audited as drift, with a new invitation', async () => {
      await store.db.deleteFrom('members').where('email_normalized', '=', 'dave@acme.example').execute();
      const result = await syncAll(store, base, T1);
      expect(result.plan.actions).toMatchObject([{ target: 'member', op: 'create', key: 'acme/dave@acme.example', drift: true }]);
      const [entry] = await listAudit(store.db, { object: { kind: 'Member', namespace: 'acme', name: 'dave' }, newestFirst: true, limit: 1 });
      expect(entry?.reason).toMatch(/^drift: the row was deleted outside Gatehouse/);
      expect(await memberRow(store, 'dave@acme.example')).toMatchObject({ state: 'Invited', invitation_state: 'Waiting' });
    });

    it('restores role permissions and a default role edited by hand', async () => {
      await store.db.insertInto('role_permissions').values({ workspace_id: 'acme', role_id: 'campaign-analyst', permission_id: 'export-users' }).execute();
      await store.db.deleteFrom('role_permissions').where('role_id', '=', 'viewer').execute();
      const result = await syncAll(store, base, T1);
      expect(ops(result)).toEqual(['role.update acme/viewer', 'role.update acme/campaign-analyst']);
      expect(result.plan.actions.every((a) => a.drift)).toBe(true);
      expect(ops(await syncAll(store, base, T1))).toEqual([]);
    });

    it('tells a declaration change from drift', async () => {
      const changed = [workspace, aRole(), aMember({ name: 'alice', spec: { role: 'editor' } }), ...members.slice(1)];
      const result = await syncAll(store, changed, T1);
      expect(result.plan.actions).toMatchObject([{ op: 'update', drift: false, reason: 'declaration changed (roleId)' }]);
    });

    it('corrects a member state edited by hand', async () => {
      await store.db.updateTable('members').set({ state: 'Active' }).where('email_normalized', '=', 'alice@acme.example').execute();
      const result = await syncAll(store, base, T1);
      expect(result.plan.actions).toMatchObject([{ op: 'update', drift: true, changes: [{ field: 'state', from: 'Active', to: 'Invited' }] }]);
    });
  });

  describe('removal', () => {
    it('deletes a member that is no longer declared, and the audit log says why', async () => {
      const result = await syncAll(store, [workspace, aRole(), ...members.slice(0, 3)], T1);
      expect(ops(result)).toEqual(['member.delete acme/dave@acme.example']);
      expect(stateOf(result, 'Member', 'dave')).toMatchObject({ phase: 'Terminating', reason: 'Removed', inStore: false });
      expect(await memberRow(store, 'dave@acme.example')).toBeUndefined();
      const [entry] = await listAudit(store.db, { newestFirst: true, limit: 1, withPersonal: true });
      expect(entry).toMatchObject({ action: 'member.delete', object: { kind: 'Member', name: 'dave' }, before: { email: 'dave@acme.example' } });
    });

    it('with deletionPolicy Orphan leaves the row unmanaged, and a later declaration takes it over', async () => {
      const orphan = aMember({ name: 'dave', spec: { deletionPolicy: 'Orphan' } });
      await syncAll(store, [...base.slice(0, -1), orphan], T1);
      const result = await syncAll(store, base.slice(0, -1), T1);
      expect(ops(result)).toEqual(['member.forget acme/dave@acme.example']);
      expect(await memberRow(store, 'dave@acme.example')).toMatchObject({ state: 'Invited' });
      expect((await memberRow(store, 'dave@acme.example'))?.managed).toBeFalsy();
      expect(ops(await syncAll(store, base.slice(0, -1), T1))).toEqual([]);

      const back = await syncAll(store, [...base.slice(0, -1), aMember({ name: 'dave-again', spec: { email: 'dave@acme.example' } })], T1);
      expect(back.plan.actions).toMatchObject([{ op: 'update', changes: expect.arrayContaining([{ field: 'managed', from: false, to: true }]) }]);
      expect((await memberRow(store, 'dave@acme.example'))?.source_name).toBe('dave-again');
    });

    it('keeps the row (and what the application wrote) when a Member is renamed', async () => {
      const renamed = [...base.slice(0, -1), aMember({ name: 'david', spec: { email: 'dave@acme.example', displayName: 'Person dave' } })];
      const before = await memberRow(store, 'dave@acme.example');
      const result = await syncAll(store, renamed, T1);
      expect(result.plan.actions).toMatchObject([{ op: 'update', changes: [{ field: 'owner', from: 'Member acme/dave', to: 'Member acme/david' }] }]);
      expect((await memberRow(store, 'dave@acme.example'))?.member_id).toBe(before?.member_id);
    });

    it('does not remove a Role members in the store still have', async () => {
      const withRole = [workspace, aRole(), aMember({ name: 'alice', spec: { role: 'campaign-analyst' } }), ...members.slice(1)];
      await syncAll(store, withRole, T1);
      // Declared without the Role but with alice still on it (as if the rules were bypassed).
      await store.db.updateTable('members').set({ managed: false }).where('email_normalized', '=', 'alice@acme.example').execute();
      const result = await syncAll(store, [workspace, ...members.slice(1)], T1);
      expect(ops(result)).toEqual([]);
      expect(stateOf(result, 'Role', 'campaign-analyst')).toMatchObject({ reason: 'RoleInUse' });
    });

    it('refuses to remove more than a quarter of a workspace\'s members unless allowed', async () => {
      const half = [workspace, aRole(), ...members.slice(0, 2)];
      const untouched = await snapshot(store, { withIds: true });
      await expect(syncAll(store, half, T1)).rejects.toBeInstanceOf(MassRemovalError);
      await expect(syncAll(store, half, T1)).rejects.toThrow(/refusing to remove 2 of the 4 members of workspace acme.*--allow-mass-removal/);
      expect(await snapshot(store, { withIds: true })).toEqual(untouched);

      // A dry run shows what would happen instead of refusing.
      const dry = await syncAll(store, half, T1, { dryRun: true });
      expect(dry.plan.massRemovals).toEqual([{ workspaceId: 'acme', removing: 2, total: 4, maxShare: 0.25 }]);

      const allowed = await syncAll(store, half, T1, { removalGuard: { maxShare: 0.25, allow: true } });
      expect(ops(allowed)).toEqual(['member.delete acme/carol@acme.example', 'member.delete acme/dave@acme.example']);
    });

    it('lets exactly a quarter go, and counts a removed workspace\'s members', async () => {
      expect(ops(await syncAll(store, [workspace, aRole(), ...members.slice(0, 3)], T1))).toEqual(['member.delete acme/dave@acme.example']);
      await expect(syncAll(store, [], T1)).rejects.toThrow(/refusing to remove 3 of the 3 members of workspace acme/);
      const gone = await syncAll(store, [], T1, { removalGuard: { maxShare: 0.25, allow: true } });
      expect(ops(gone)).toEqual(['workspace.delete acme']);
      const counts = await store.db.selectFrom('members').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow();
      expect(Number(counts.n)).toBe(0);
      const roles = await store.db.selectFrom('roles').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow();
      expect(Number(roles.n)).toBe(0);
    });
  });

  describe('ownership', () => {
    it('reports a Conflict, and writes nothing, for an email another object still owns', async () => {
      // The operator's view: dave's Member was replaced by "dave2" with the same email,
      // and dave's own deletion has not been processed yet.
      const declared = [...base.slice(0, -1), aMember({ name: 'dave2', spec: { email: 'dave@acme.example' } })];
      const result = await syncToStore(store, declared, {
        at: new Date(T1),
        actor: 'operator',
        scope: { type: 'objects', refs: [{ kind: 'Member', namespace: 'acme', name: 'dave2' }] },
        profile,
      });
      expect(result.plan.actions).toEqual([]);
      const state = stateOf(result, 'Member', 'dave2');
      expect(state).toMatchObject({ phase: 'Failed', reason: 'Conflict', ready: false });
      expect(state.message).toContain('you might have two Members with the same email: Member acme/dave owns it');
      expect((await memberRow(store, 'dave@acme.example'))?.source_name).toBe('dave');

      // Once dave's deletion is processed, dave2 gets its own row.
      await syncToStore(store, declared, { at: new Date(T1), actor: 'operator', scope: { type: 'objects', refs: [{ kind: 'Member', namespace: 'acme', name: 'dave' }] }, profile });
      const retried = await syncToStore(store, declared, {
        at: new Date(T1),
        actor: 'operator',
        scope: { type: 'objects', refs: [{ kind: 'Member', namespace: 'acme', name: 'dave2' }] },
        profile,
      });
      expect(stateOf(retried, 'Member', 'dave2').phase).toBe('Invited');
    });

    it('never writes an object with rule errors, and keeps its existing row', async () => {
      const bad = [workspace, aRole(), aMember({ name: 'alice', spec: { role: 'no-such-role' } }), ...members.slice(1)];
      const result = await syncAll(store, bad, T1);
      expect(ops(result)).toEqual([]);
      expect(stateOf(result, 'Member', 'alice')).toMatchObject({ phase: 'Failed', reason: 'RoleNotFound', ready: false });
      expect((await memberRow(store, 'alice@acme.example'))?.role_id).toBe('viewer');
    });
  });

  it('records who applied and from which file', async () => {
    const files = new Map([['Member/acme/erin', 'people/erin.yaml']]);
    await syncAll(store, [...base, aMember({ name: 'erin' })], T1, { files, actor: 'cli:ops' });
    const [entry] = await listAudit(store.db, { object: { kind: 'Member', namespace: 'acme', name: 'erin' } });
    expect(entry).toMatchObject({ actor: 'cli:ops', action: 'member.create', object: { file: 'people/erin.yaml' } });
    const row = await sql<{ source_file: string }>`select source_file from members where email_normalized = 'erin@acme.example'`.execute(store.db);
    expect(row.rows[0]?.source_file).toBe('people/erin.yaml');
  });
});
