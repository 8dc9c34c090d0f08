// Access ends when it must, in the engine (plan + one store transaction, the
// path of `gatehouse apply` and the reconciler), on SQLite and PostgreSQL:
// switching support off revokes, declared edits of immutable fields are
// refused (never "drift"), going back on a revocation or a resend is reported,
// invitations never outlive access, the store knows who came first.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { StoreEngine } from '../src/kube/controller/engine-adapter.js';
import type { GatehouseObject } from '../src/model/kinds.js';
import { RuleErrorsError } from '../src/sync/sync.js';
import { aMember, anAdmin, aSupportGrant, aWorkspace } from '../src/rules/testing/builders.js';
import { listAudit } from '../src/store/audit.js';
import { FencedError, type LeadershipToken } from '../src/store/fence.js';
import type { Store } from '../src/store/store.js';
import { memberRow, ops, profile, stateOf, syncAll } from './support/engine.js';
import { forEachDialect } from './support/stores.js';

const T0 = '2027-01-01T00:00:00.000Z';
const DAY = 86_400_000;
const plus = (iso: string, ms: number) => new Date(new Date(iso).getTime() + ms).toISOString();
const violationsOf = (result: { violations: Array<{ severity: string; ruleId: string; object: { name: string }; field: string }> }) =>
  result.violations.filter((v) => v.severity === 'error').map((v) => `${v.ruleId} ${v.object.name} ${v.field}`);

forEachDialect('engine: revocation that sticks', (dialect) => {
  let store: Store;
  beforeEach(async () => {
    store = await dialect.open();
  });
  afterEach(async () => {
    await store.close();
  });

  describe('switching support access off (case 1)', () => {
    const on = aWorkspace({ spec: { supportAccess: { allowed: true } } });
    const off = aWorkspace({ spec: { supportAccess: { allowed: false } } });
    const grants = [
      aSupportGrant({ name: 'ticket-1', spec: { duration: undefined, endsAt: '2027-01-25T00:00:00Z' } }),
      aSupportGrant({ name: 'ticket-2', spec: { duration: undefined, startsAt: '2027-01-10T00:00:00Z', endsAt: '2027-01-20T00:00:00Z' } }),
    ];

    it('revokes every grant of the workspace at once, audited, with status saying why; turning it on again revives nothing', async () => {
      await syncAll(store, [on, anAdmin(), ...grants], T0);
      const at = plus(T0, DAY);
      const result = await syncAll(store, [off, anAdmin(), ...grants], at, { refuseOnRuleErrors: true });
      expect(ops(result)).toEqual(expect.arrayContaining(['workspace.update acme', 'supportGrant.revoke acme/ticket-1', 'supportGrant.revoke acme/ticket-2']));
      for (const name of ['ticket-1', 'ticket-2']) {
        expect(stateOf(result, 'SupportGrant', name)).toMatchObject({ phase: 'Revoked', reason: 'SupportAccessOff', revokedAt: at });
        expect(stateOf(result, 'SupportGrant', name).message).toContain('switched vendor support access off');
      }
      expect(result.violations.map((v) => `${v.severity} ${v.ruleId}`)).toEqual(['warning SupportAccessNotAllowed', 'warning SupportAccessNotAllowed']);
      const audit = (await listAudit(store.db, {})).filter((e) => e.action === 'supportgrant.revoke');
      expect(audit.map((e) => e.reason)).toEqual([expect.stringContaining('switched vendor support access off'), expect.stringContaining('switched vendor support access off')]);

      const back = await syncAll(store, [on, anAdmin(), ...grants], plus(at, DAY), { refuseOnRuleErrors: true });
      expect(ops(back)).toEqual(['workspace.update acme']);
      expect(stateOf(back, 'SupportGrant', 'ticket-1').phase).toBe('Revoked');
      expect(violationsOf(back)).toEqual([]);
    });

    it('refuses a new grant while support is off', async () => {
      await syncAll(store, [off, anAdmin()], T0);
      await expect(syncAll(store, [off, anAdmin(), grants[0] as GatehouseObject], T0, { refuseOnRuleErrors: true })).rejects.toBeInstanceOf(RuleErrorsError);
    });
  });

  describe('immutable fields edited in the declaration (case 3)', () => {
    const alice = aMember({ name: 'alice' });
    const edits: Array<[string, GatehouseObject[], string]> = [
      ['email', [aWorkspace(), anAdmin(), aMember({ name: 'alice', spec: { email: 'alice.new@acme.example' } })], 'ImmutableFieldChanged alice spec.email'],
      ['name', [aWorkspace(), anAdmin(), aMember({ name: 'alice', spec: { displayName: 'Alice Renamed' } })], 'ImmutableFieldChanged alice spec.displayName'],
      ['workspace id', [aWorkspace({ spec: { workspaceId: 'acme-2' } }), anAdmin(), alice], 'ImmutableFieldChanged acme spec.workspaceId'],
    ];

    it.each(edits)('%s: apply refuses everything; the reconciler holds the object and writes nothing, with no drift claim', async (_field, edited, expected) => {
      await syncAll(store, [aWorkspace(), anAdmin(), alice], T0);
      const at = plus(T0, DAY);
      await expect(syncAll(store, edited, at, { refuseOnRuleErrors: true })).rejects.toMatchObject({
        violations: expect.arrayContaining([expect.objectContaining({ ruleId: 'ImmutableFieldChanged' })]),
      });
      const held = await syncAll(store, edited, at);
      expect(violationsOf(held)).toEqual([expected]);
      expect(ops(held)).toEqual([]);
      expect(held.plan.actions.some((a) => a.drift)).toBe(false);
      expect(await memberRow(store, 'alice@acme.example')).toMatchObject({ state: 'Invited' });
    });

    it('the reconciler path (scope objects against an index) refuses the email edit too', async () => {
      const engine = new StoreEngine(store, profile);
      await syncAll(store, [aWorkspace(), anAdmin(), alice], T0);
      const edited = aMember({ name: 'alice', spec: { email: 'alice.new@acme.example' } });
      const result = await engine.sync([aWorkspace(), anAdmin(), edited], { type: 'objects', refs: [{ kind: 'Member', namespace: 'acme', name: 'alice' }] }, new Date(plus(T0, DAY)));
      expect(result.changes).toBe(0);
      expect(result.violations.map((v) => v.ruleId)).toEqual(['ImmutableFieldChanged']);
      expect(await memberRow(store, 'alice.new@acme.example')).toBeUndefined();
    });
  });

  describe('stretching a grant (case 2)', () => {
    it('measures an endsAt-only grant from when it really started: moving endsAt on day 19 to day 45 is refused', async () => {
      const grant = (endsAt: string) => aSupportGrant({ name: 'ticket-1', spec: { duration: undefined, endsAt } });
      await syncAll(store, [aWorkspace(), anAdmin(), grant('2027-01-25T00:00:00Z')], T0);
      const day19 = plus(T0, 19 * DAY);
      await expect(syncAll(store, [aWorkspace(), anAdmin(), grant('2027-02-15T00:00:00Z')], day19, { refuseOnRuleErrors: true })).rejects.toMatchObject({
        violations: [expect.objectContaining({ ruleId: 'SupportGrantTooLong', field: 'spec.endsAt' })],
      });
      const held = await syncAll(store, [aWorkspace(), anAdmin(), grant('2027-02-15T00:00:00Z')], day19);
      // (The admin's week-old invitation expires meanwhile; the grant is not touched.)
      expect(ops(held).filter((op) => op.startsWith('supportGrant'))).toEqual([]);
      const row = await store.db.selectFrom('support_grants').select(['ends_at']).where('name', '=', 'ticket-1').executeTakeFirst();
      expect(new Date(String(row?.ends_at)).toISOString()).toBe('2027-01-25T00:00:00.000Z');
    });
  });

  describe('going back on a revocation or a resend (case 4)', () => {
    it('reports RevokedGrantReinstated and InvitationResendDecreased where the webhook would', async () => {
      const grant = aSupportGrant({ name: 'ticket-1' });
      const bob = aMember({ name: 'bob', spec: { invitation: { resend: 2 } } });
      await syncAll(store, [aWorkspace(), anAdmin(), grant, bob], T0);
      await syncAll(store, [aWorkspace(), anAdmin(), aSupportGrant({ name: 'ticket-1', spec: { revoked: true } }), bob], plus(T0, 1000));
      const back = await syncAll(
        store,
        [aWorkspace(), anAdmin(), aSupportGrant({ name: 'ticket-1', spec: { revoked: false } }), aMember({ name: 'bob', spec: { invitation: { resend: 1 } } })],
        plus(T0, 2000),
      );
      expect(violationsOf(back).sort()).toEqual(['InvitationResendDecreased bob spec.invitation.resend', 'RevokedGrantReinstated ticket-1 spec.revoked']);
      // Held: nothing written, the store keeps the revocation.
      expect(ops(back)).toEqual([]);
      expect(stateOf(back, 'SupportGrant', 'ticket-1').reason).toBe('RevokedGrantReinstated');
      const row = await store.db.selectFrom('support_grants').select(['state', 'revoked_cause']).where('name', '=', 'ticket-1').executeTakeFirst();
      expect(row).toEqual({ state: 'Revoked', revoked_cause: 'Declared' });
    });
  });

  describe('invitations (case 9)', () => {
    it('never outlive the access they invite to, sent or sent again', async () => {
      const workspace = aWorkspace({ spec: { invitationLifetime: '8760h' } });
      const end = '2027-06-30T00:00:00.000Z';
      await syncAll(store, [workspace, anAdmin(), aMember({ name: 'carol', spec: { expiresAt: end } })], T0);
      expect(await memberRow(store, 'carol@acme.example')).toMatchObject({ invitation_state: 'Waiting' });
      expect(new Date(String((await memberRow(store, 'carol@acme.example'))?.invitation_expires_at)).toISOString()).toBe(end);
      await syncAll(store, [workspace, anAdmin(), aMember({ name: 'carol', spec: { expiresAt: end, invitation: { resend: 1 } } })], plus(T0, DAY));
      expect(new Date(String((await memberRow(store, 'carol@acme.example'))?.invitation_expires_at)).toISOString()).toBe(end);
      // Access cut shorter while the invitation waits: the invitation ends with it, same token.
      const before = await memberRow(store, 'carol@acme.example');
      const sooner = '2027-03-01T00:00:00.000Z';
      const result = await syncAll(store, [workspace, anAdmin(), aMember({ name: 'carol', spec: { expiresAt: sooner, invitation: { resend: 1 } } })], plus(T0, 2 * DAY));
      expect(ops(result)).toEqual(['member.update acme/carol@acme.example']);
      const after = await memberRow(store, 'carol@acme.example');
      expect(new Date(String(after?.invitation_expires_at)).toISOString()).toBe(sooner);
      expect(after?.token_hash).toBe(before?.token_hash);
      expect(ops(await syncAll(store, [workspace, anAdmin(), aMember({ name: 'carol', spec: { expiresAt: sooner, invitation: { resend: 1 } } })], plus(T0, 3 * DAY)))).toEqual([]);
    });
  });

  describe('admin tenure (case 10)', () => {
    it('keeps the admin applied first, whatever the names', async () => {
      const workspace = aWorkspace({ spec: { admins: { min: 1, max: 1 } } });
      await syncAll(store, [workspace, anAdmin({ name: 'zed' })], T0);
      const later = await syncAll(store, [workspace, anAdmin({ name: 'zed' }), anAdmin({ name: 'abe' })], plus(T0, DAY));
      expect(violationsOf(later)).toEqual(['TooManyAdmins abe spec.role']);
      expect(await memberRow(store, 'abe@acme.example')).toBeUndefined();
    });
  });

  it('lists the owners of managed rows for the operator\'s sweep (case 5)', async () => {
    await syncAll(store, [aWorkspace(), anAdmin(), aMember({ name: 'keep', spec: { deletionPolicy: 'Orphan' } })], T0);
    await syncAll(store, [aWorkspace(), anAdmin()], plus(T0, 1000));
    const sources = await new StoreEngine(store, profile).managedSources();
    expect(sources.map((r) => `${r.kind}/${r.name}`).sort()).toEqual(['Member/root', 'Workspace/acme']);
  });

  describe('leadership fencing (case 6)', () => {
    const term = (holder: string, transitions: number, leaseUid = 'lease-1', acquireTime = `2027-01-01T00:00:0${transitions}.000000Z`): LeadershipToken => ({
      lease: 'gatehouse-system/gatehouse-operator',
      leaseUid,
      transitions,
      acquireTime,
      holder,
    });

    it('refuses every write of a deposed leader once its successor has written, and writes nothing', async () => {
      const alice = aMember({ name: 'alice' });
      await syncAll(store, [aWorkspace(), anAdmin()], T0, { fence: term('a', 0) });
      await syncAll(store, [aWorkspace(), anAdmin(), alice], plus(T0, 1000), { fence: term('b', 1) });
      const stale = syncAll(store, [aWorkspace(), anAdmin()], plus(T0, 2000), { fence: term('a', 0) });
      await expect(stale).rejects.toBeInstanceOf(FencedError);
      await expect(stale).rejects.toThrow(/term 0 of a is over: b \(term 1\)/);
      expect(await memberRow(store, 'alice@acme.example')).toBeDefined();
      // The same leader keeps writing; a later term takes over.
      await syncAll(store, [aWorkspace(), anAdmin(), alice], plus(T0, 3000), { fence: term('b', 1) });
      await syncAll(store, [aWorkspace(), anAdmin(), alice], plus(T0, 4000), { fence: term('c', 2) });
      await expect(syncAll(store, [aWorkspace(), anAdmin()], plus(T0, 5000), { fence: term('b', 1) })).rejects.toBeInstanceOf(FencedError);
    });

    it('orders terms of a re-created Lease (transitions counted afresh) by acquire time', async () => {
      await syncAll(store, [aWorkspace(), anAdmin()], T0, { fence: term('a', 5, 'lease-1', '2027-01-01T00:00:00.000000Z') });
      await syncAll(store, [aWorkspace(), anAdmin()], plus(T0, 1000), { fence: term('b', 0, 'lease-2', '2027-01-01T00:05:00.000000Z') });
      await expect(
        syncAll(store, [aWorkspace(), anAdmin()], plus(T0, 2000), { fence: term('a', 5, 'lease-1', '2027-01-01T00:00:00.000000Z') }),
      ).rejects.toBeInstanceOf(FencedError);
    });

    it('the operator\'s engine carries its term into every sync', async () => {
      const engine = new StoreEngine(store, profile);
      engine.setLeadership(term('b', 1));
      await engine.sync([aWorkspace(), anAdmin()], { type: 'all' }, new Date(T0));
      engine.setLeadership(term('a', 0));
      await expect(engine.sync([aWorkspace(), anAdmin(), aMember()], { type: 'all' }, new Date(plus(T0, 1000)))).rejects.toThrow(/term 0 of a is over/);
      expect(await memberRow(store, 'alice@acme.example')).toBeUndefined();
    });
  });
});
