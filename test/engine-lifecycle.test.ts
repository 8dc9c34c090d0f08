// Lifecycle and time (F5, F6, F14), each transition at its exact boundary
// instant: at == end means ended. Time moves by passing `at`; nothing sleeps.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { acceptInvitation, takeInvitationsToDeliver } from '../src/app/index.js';
import { readObjectStates } from '../src/sync/sync.js';
import type { Store } from '../src/store/store.js';
import { aMember, aSupportGrant, aWorkspace } from '../src/rules/testing/builders.js';
import { memberRow, ops, profile, stateOf, syncAll } from './support/engine.js';
import { forEachDialect } from './support/stores.js';

const T0 = '2026-06-01T00:00:00.000Z';
const plus = (iso: string, ms: number) => new Date(new Date(iso).getTime() + ms).toISOString();
const HOUR = 3_600_000;

const workspace = aWorkspace({ spec: { invitationLifetime: '24h', admins: { min: 0, max: 1 } } });

forEachDialect('engine lifecycle', (dialect) => {
  let store: Store;
  beforeEach(async () => {
    store = await dialect.open();
  });
  afterEach(async () => {
    await store.close();
  });

  describe('invitations', () => {
    const alice = aMember({ name: 'alice', spec: { email: 'Alice@Acme.example' } });

    it('invites a new member: Invited, invitation Waiting until the workspace lifetime, next change at its expiry', async () => {
      const result = await syncAll(store, [workspace, alice], T0);
      expect(ops(result)).toContain('member.create acme/alice@acme.example');
      const state = stateOf(result, 'Member', 'alice');
      expect(state).toMatchObject({ phase: 'Invited', reason: 'Invited', ready: true, inStore: true });
      expect(state.invitation).toMatchObject({ state: 'Waiting', sentAt: T0, expiresAt: plus(T0, 24 * HOUR), sentCount: 1 });
      expect(result.nextChangeAt?.toISOString()).toBe(plus(T0, 24 * HOUR));
      const row = await memberRow(store, 'alice@acme.example');
      expect(row).toMatchObject({ state: 'Invited', invitation_state: 'Waiting', sent_count: 1 });
    });

    it('becomes Active when the application records acceptance, without a spec change and without the engine fighting it', async () => {
      await syncAll(store, [workspace, alice], T0);
      const [delivery] = await takeInvitationsToDeliver(store, 10, { at: new Date(plus(T0, HOUR)) });
      expect(delivery?.email).toBe('Alice@Acme.example');
      await acceptInvitation(store, { token: delivery?.token as string, email: 'alice@acme.EXAMPLE', at: new Date(plus(T0, 2 * HOUR)) });

      const [read] = await readObjectStates(store, [workspace, alice], [{ kind: 'Member', namespace: 'acme', name: 'alice' }], new Date(plus(T0, 3 * HOUR)), profile);
      expect(read).toMatchObject({ phase: 'Active', reason: 'Activated' });
      expect(read?.invitation).toMatchObject({ state: 'Completed', respondedAt: plus(T0, 2 * HOUR) });

      // After acceptance the invitation's expiry is irrelevant: nothing to do, then or later.
      for (const at of [plus(T0, 3 * HOUR), plus(T0, 24 * HOUR), plus(T0, 1000 * HOUR)]) {
        const again = await syncAll(store, [workspace, alice], at);
        expect(ops(again)).toEqual([]);
        expect(stateOf(again, 'Member', 'alice').phase).toBe('Active');
      }
    });

    it('expires a pending invitation exactly at its expiry instant, then leaves it alone', async () => {
      await syncAll(store, [workspace, alice], T0);
      const expiry = plus(T0, 24 * HOUR);
      const before = await syncAll(store, [workspace, alice], plus(expiry, -1));
      expect(ops(before)).toEqual([]);
      expect(stateOf(before, 'Member', 'alice').phase).toBe('Invited');

      const at = await syncAll(store, [workspace, alice], expiry);
      expect(ops(at)).toEqual(['member.expire-invitation acme/alice@acme.example']);
      expect(stateOf(at, 'Member', 'alice')).toMatchObject({ phase: 'Expired', reason: 'InvitationExpired', ready: false });
      expect(at.nextChangeAt).toBeUndefined();
      expect(await memberRow(store, 'alice@acme.example')).toMatchObject({ state: 'Expired', invitation_state: 'Expired' });

      for (const later of [plus(expiry, 1), plus(expiry, 5000 * HOUR)]) {
        expect(ops(await syncAll(store, [workspace, alice], later))).toEqual([]);
      }
    });

    it('refuses an expired invitation even before the engine marks it (the application compares times)', async () => {
      await syncAll(store, [workspace, alice], T0);
      const [delivery] = await takeInvitationsToDeliver(store, 10, { at: new Date(T0) });
      await expect(
        acceptInvitation(store, { token: delivery?.token as string, email: 'alice@acme.example', at: new Date(plus(T0, 24 * HOUR)) }),
      ).rejects.toMatchObject({ code: 'InvitationExpired' });
      // One millisecond earlier it is still good.
      await expect(
        acceptInvitation(store, { token: delivery?.token as string, email: 'alice@acme.example', at: new Date(plus(T0, 24 * HOUR - 1)) }),
      ).resolves.toMatchObject({ email: 'Alice@Acme.example' });
    });

    it('resends when spec.invitation.resend is bumped after expiry: new token, new expiry, sentCount + 1', async () => {
      await syncAll(store, [workspace, alice], T0);
      const [first] = await takeInvitationsToDeliver(store, 10, { at: new Date(T0) });
      await syncAll(store, [workspace, alice], plus(T0, 30 * HOUR));
      const bumped = aMember({ name: 'alice', spec: { email: 'Alice@Acme.example', invitation: { resend: 1 } } });
      const at = plus(T0, 40 * HOUR);
      const result = await syncAll(store, [workspace, bumped], at);
      expect(ops(result)).toEqual(['member.resend-invitation acme/alice@acme.example']);
      expect(stateOf(result, 'Member', 'alice')).toMatchObject({ phase: 'Invited', invitation: { state: 'Waiting', sentAt: at, expiresAt: plus(at, 24 * HOUR), sentCount: 2 } });
      expect(result.nextChangeAt?.toISOString()).toBe(plus(at, 24 * HOUR));

      const [second] = await takeInvitationsToDeliver(store, 10, { at: new Date(at) });
      expect(second?.token).toBeDefined();
      expect(second?.token).not.toBe(first?.token);
      // The old token no longer exists; the new one works once.
      await expect(acceptInvitation(store, { token: first?.token as string, email: 'alice@acme.example', at: new Date(at) })).rejects.toMatchObject({
        code: 'InvitationNotFound',
      });
      await acceptInvitation(store, { token: second?.token as string, email: 'alice@acme.example', at: new Date(plus(at, 1)) });
      expect(ops(await syncAll(store, [workspace, bumped], plus(at, 2)))).toEqual([]);
    });

    it('resends while still pending, and ignores a bump once accepted', async () => {
      await syncAll(store, [workspace, alice], T0);
      const bumped = aMember({ name: 'alice', spec: { email: 'Alice@Acme.example', invitation: { resend: 1 } } });
      expect(ops(await syncAll(store, [workspace, bumped], plus(T0, HOUR)))).toEqual(['member.resend-invitation acme/alice@acme.example']);
      expect(ops(await syncAll(store, [workspace, bumped], plus(T0, 2 * HOUR)))).toEqual([]);
      const [delivery] = await takeInvitationsToDeliver(store, 10, { at: new Date(plus(T0, 2 * HOUR)) });
      await acceptInvitation(store, { token: delivery?.token as string, email: 'alice@acme.example', at: new Date(plus(T0, 3 * HOUR)) });
      const again = aMember({ name: 'alice', spec: { email: 'Alice@Acme.example', invitation: { resend: 2 } } });
      expect(ops(await syncAll(store, [workspace, again], plus(T0, 4 * HOUR)))).toEqual([]);
      expect((await memberRow(store, 'alice@acme.example'))?.sent_count).toBe(2);
    });
  });

  describe('temporary access', () => {
    const end = plus(T0, 48 * HOUR);
    const contractor = aMember({ name: 'carol', spec: { email: 'carol@acme.example', expiresAt: end } });

    it('ends exactly at expiresAt: Active one millisecond before, Expired at the instant, then left alone', async () => {
      const created = await syncAll(store, [workspace, contractor], T0);
      expect(created.nextChangeAt?.toISOString()).toBe(plus(T0, 24 * HOUR)); // the invitation expires first
      const [delivery] = await takeInvitationsToDeliver(store, 10, { at: new Date(T0) });
      await acceptInvitation(store, { token: delivery?.token as string, email: 'carol@acme.example', at: new Date(plus(T0, HOUR)) });

      const before = await syncAll(store, [workspace, contractor], plus(end, -1));
      expect(ops(before)).toEqual([]);
      expect(stateOf(before, 'Member', 'carol')).toMatchObject({ phase: 'Active', expiresAt: end });
      expect(before.nextChangeAt?.toISOString()).toBe(end);

      const at = await syncAll(store, [workspace, contractor], end);
      expect(ops(at)).toEqual(['member.expire acme/carol@acme.example']);
      expect(stateOf(at, 'Member', 'carol')).toMatchObject({ phase: 'Expired', reason: 'Expired', ready: false });
      expect((await memberRow(store, 'carol@acme.example'))?.state).toBe('Expired');
      expect(ops(await syncAll(store, [workspace, contractor], plus(end, 1000 * HOUR)))).toEqual([]);
    });

    it('refuses acceptance once access has ended: the invitation ends with the access it invites to', async () => {
      const short = aMember({ name: 'dave', spec: { email: 'dave@acme.example', expiresAt: plus(T0, 2 * HOUR) } });
      await syncAll(store, [workspace, short], T0);
      expect(new Date(String((await memberRow(store, 'dave@acme.example'))?.invitation_expires_at)).toISOString()).toBe(plus(T0, 2 * HOUR));
      const [delivery] = await takeInvitationsToDeliver(store, 10, { at: new Date(T0) });
      await expect(
        acceptInvitation(store, { token: delivery?.token as string, email: 'dave@acme.example', at: new Date(plus(T0, 2 * HOUR)) }),
      ).rejects.toMatchObject({ code: 'InvitationExpired' });
    });

    it('expires a member and its pending invitation together, and drops the undelivered token', async () => {
      const short = aMember({ name: 'erin', spec: { email: 'erin@acme.example', expiresAt: plus(T0, 2 * HOUR) } });
      await syncAll(store, [workspace, short], T0);
      const result = await syncAll(store, [workspace, short], plus(T0, 2 * HOUR));
      expect(ops(result)).toEqual(['member.expire acme/erin@acme.example']);
      expect(await memberRow(store, 'erin@acme.example')).toMatchObject({ state: 'Expired', invitation_state: 'Expired' });
      expect(await takeInvitationsToDeliver(store, 10, { at: new Date(plus(T0, 3 * HOUR)) })).toEqual([]);
    });

    it('never writes a member whose access ended before it was added, and keeps planning nothing', async () => {
      const late = aMember({ name: 'frank', spec: { email: 'frank@acme.example', expiresAt: T0 } });
      const result = await syncAll(store, [workspace, late], T0);
      expect(ops(result).filter((o) => o.startsWith('member.'))).toEqual([]);
      expect(stateOf(result, 'Member', 'frank')).toMatchObject({ phase: 'Expired', reason: 'Expired', inStore: false });
      expect(await memberRow(store, 'frank@acme.example')).toBeUndefined();
      expect(ops(await syncAll(store, [workspace, late], plus(T0, HOUR)))).toEqual([]);
    });

    it('gives access back when expiresAt is moved later (the declaration changed)', async () => {
      await syncAll(store, [workspace, contractor], T0);
      const [delivery] = await takeInvitationsToDeliver(store, 10, { at: new Date(T0) });
      await acceptInvitation(store, { token: delivery?.token as string, email: 'carol@acme.example', at: new Date(plus(T0, HOUR)) });
      await syncAll(store, [workspace, contractor], end);
      const extended = aMember({ name: 'carol', spec: { email: 'carol@acme.example', expiresAt: plus(end, 24 * HOUR) } });
      const result = await syncAll(store, [workspace, extended], plus(end, HOUR));
      expect(ops(result)).toEqual(['member.update acme/carol@acme.example']);
      expect(stateOf(result, 'Member', 'carol').phase).toBe('Active');
    });
  });

  describe('support grants', () => {
    const start = plus(T0, 10 * HOUR);
    const grant = aSupportGrant({ name: 'ticket-1', spec: { startsAt: start, duration: '168h' } });
    const end = plus(start, 168 * HOUR);

    it('is Pending before its start, Active from the start instant, Expired at the end instant, then left alone', async () => {
      const created = await syncAll(store, [workspace, grant], T0);
      expect(stateOf(created, 'SupportGrant', 'ticket-1')).toMatchObject({ phase: 'Pending', reason: 'Scheduled', startsAt: start, endsAt: end });
      expect(created.nextChangeAt?.toISOString()).toBe(start);

      expect(ops(await syncAll(store, [workspace, grant], plus(start, -1)))).toEqual([]);
      const started = await syncAll(store, [workspace, grant], start);
      expect(ops(started)).toEqual(['supportGrant.activate acme/ticket-1']);
      expect(stateOf(started, 'SupportGrant', 'ticket-1')).toMatchObject({ phase: 'Active', reason: 'Granted' });
      expect(started.nextChangeAt?.toISOString()).toBe(end);
      expect(stateOf(started, 'Workspace', 'acme').activeSupportGrants).toBe(1);

      expect(ops(await syncAll(store, [workspace, grant], plus(end, -1)))).toEqual([]);
      const ended = await syncAll(store, [workspace, grant], end);
      expect(ops(ended)).toEqual(['supportGrant.expire acme/ticket-1']);
      expect(stateOf(ended, 'SupportGrant', 'ticket-1')).toMatchObject({ phase: 'Expired', reason: 'Expired', ready: false });
      expect(stateOf(ended, 'Workspace', 'acme').activeSupportGrants).toBe(0);
      expect(ops(await syncAll(store, [workspace, grant], plus(end, 100 * HOUR)))).toEqual([]);
    });

    it('is revoked at once by spec.revoked and stays revoked', async () => {
      await syncAll(store, [workspace, grant], start);
      const revoked = aSupportGrant({ name: 'ticket-1', spec: { startsAt: start, duration: '168h', revoked: true } });
      const at = plus(start, HOUR);
      const result = await syncAll(store, [workspace, revoked], at);
      expect(ops(result)).toEqual(['supportGrant.revoke acme/ticket-1']);
      expect(stateOf(result, 'SupportGrant', 'ticket-1')).toMatchObject({ phase: 'Revoked', reason: 'Revoked', revokedAt: at });
      const row = await store.db.selectFrom('support_grants').select(['state', 'revoked_at']).executeTakeFirstOrThrow();
      expect(row.state).toBe('Revoked');
      // A revoked grant is not reinstated by editing the declaration back.
      expect(ops(await syncAll(store, [workspace, grant], plus(at, HOUR)))).toEqual([]);
    });

    it('keeps the start of a grant without startsAt at the first apply', async () => {
      const open = aSupportGrant({ name: 'ticket-2', spec: { duration: '24h' } });
      const first = await syncAll(store, [workspace, open], T0);
      expect(stateOf(first, 'SupportGrant', 'ticket-2')).toMatchObject({ phase: 'Active', startsAt: T0, endsAt: plus(T0, 24 * HOUR) });
      expect(ops(await syncAll(store, [workspace, open], plus(T0, HOUR)))).toEqual([]);
      expect(ops(await syncAll(store, [workspace, open], plus(T0, 24 * HOUR)))).toEqual(['supportGrant.expire acme/ticket-2']);
    });

    it('never writes a grant that ended before it was applied', async () => {
      const old = aSupportGrant({ name: 'ticket-3', spec: { startsAt: plus(T0, -100 * HOUR), duration: '24h' } });
      const result = await syncAll(store, [workspace, old], T0);
      expect(ops(result).filter((o) => o.startsWith('supportGrant'))).toEqual([]);
      expect(stateOf(result, 'SupportGrant', 'ticket-3')).toMatchObject({ phase: 'Expired', inStore: false });
    });
  });

  it('reports the earliest of all expiries as nextChangeAt', async () => {
    const result = await syncAll(
      store,
      [
        workspace,
        aMember({ name: 'a', spec: { email: 'a@acme.example', expiresAt: plus(T0, 5 * HOUR) } }),
        aMember({ name: 'b', spec: { email: 'b@acme.example' } }),
        aSupportGrant({ name: 'g', spec: { startsAt: plus(T0, 3 * HOUR), duration: '24h' } }),
      ],
      T0,
    );
    expect(result.nextChangeAt?.toISOString()).toBe(plus(T0, 3 * HOUR));
  });
});
