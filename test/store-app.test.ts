// The application's side: invitations delivered from the outbox once (the
// plaintext token then exists nowhere), accepted once and only by the invited
// email, refused when expired; logins recorded; Gatehouse never overwrites
// what the application wrote; everything audited.
import { createHash } from 'node:crypto';
import { sql } from 'kysely';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { acceptInvitation, MemberNotFoundError, recordLogin, takeInvitationsToDeliver } from '../src/app/index.js';
import { readObjectStates } from '../src/sync/sync.js';
import { aMember, aWorkspace } from '../src/rules/testing/builders.js';
import { listAudit, verifyAuditChain } from '../src/store/audit.js';
import { membersChangedSince, membersChangedSinceQuery } from '../src/store/observed.js';
import type { Store } from '../src/store/store.js';
import { memberRow, ops, profile, stateOf, syncAll } from './support/engine.js';
import { forEachDialect } from './support/stores.js';

const T0 = '2026-06-01T00:00:00.000Z';
const at = (hours: number) => new Date(new Date(T0).getTime() + hours * 3_600_000);

const workspace = aWorkspace({ spec: { invitationLifetime: '48h', admins: { min: 0, max: 1 } } });
const declared = [workspace, aMember({ name: 'alice', spec: { email: 'Alice@Acme.example' } }), aMember({ name: 'bob' }), aMember({ name: 'carol' })];

forEachDialect('application API', (dialect) => {
  let store: Store;
  beforeEach(async () => {
    store = await dialect.open();
    await syncAll(store, declared, T0);
  });
  afterEach(async () => {
    await store.close();
  });

  it('hands each invitation token out once, oldest first, and then only its hash remains', async () => {
    const first = await takeInvitationsToDeliver(store, 2, { at: at(1) });
    expect(first).toHaveLength(2);
    const rest = await takeInvitationsToDeliver(store, 10, { at: at(1) });
    expect(rest).toHaveLength(1);
    expect(await takeInvitationsToDeliver(store, 10, { at: at(1) })).toEqual([]);
    const all = [...first, ...rest];
    expect(new Set(all.map((d) => d.email))).toEqual(new Set(['Alice@Acme.example', 'bob@acme.example', 'carol@acme.example']));
    expect(all[0]).toMatchObject({ workspaceId: 'acme', roleId: 'viewer', sender: 'cli:test', expiresAt: at(48) });

    expect(await store.db.selectFrom('invitation_outbox').selectAll().execute()).toEqual([]);
    const hashes = (await store.db.selectFrom('invitations').select('token_hash').execute()).map((r) => r.token_hash).sort();
    expect(hashes).toEqual(all.map((d) => createHash('sha256').update(d.token).digest('hex')).sort());
    const everything = JSON.stringify(await store.db.selectFrom('invitations').selectAll().execute());
    for (const d of all) expect(everything).not.toContain(d.token);
  });

  it('finds the members the application changed since an instant (the operator\'s store poll), and only those', async () => {
    const [alice] = (await takeInvitationsToDeliver(store, 10, { at: at(1) })).filter((d) => d.email === 'Alice@Acme.example');
    await acceptInvitation(store, { token: alice?.token as string, email: 'alice@acme.example', at: at(2) });
    await recordLogin(store, { workspaceId: 'acme', email: 'bob@acme.example', at: at(4) });
    const names = async (since: Date) => (await membersChangedSince(store.db, since)).map((m) => `${m.source.namespace}/${m.source.name}`).sort();
    expect(await names(at(1))).toEqual(['acme/alice', 'acme/bob']);
    expect(await names(at(3))).toEqual(['acme/bob']);
    expect(await names(at(5))).toEqual([]);
    expect(await membersChangedSince(store.db, at(3))).toEqual([{ source: { namespace: 'acme', name: 'bob' }, lastLoginAt: at(4).toISOString() }]);
    if (dialect.name === 'sqlite') {
      // Read through the activity indexes, not by scanning the members table.
      const query = membersChangedSinceQuery(store.db, new Date(T0)).compile();
      const plan = await sql.raw<{ detail: string }>(`explain query plan ${query.sql.replace('?', "'Member'").replaceAll('?', `'${T0}'`)}`).execute(store.db);
      const details = plan.rows.map((r) => r.detail).join('\n');
      expect(details).toContain('USING INDEX members_accepted_at');
      expect(details).toContain('USING INDEX members_last_login_at');
      expect(details).not.toMatch(/^SCAN members$/m);
    }
  });

  it('accepts only with the invited email (any letter case), once', async () => {
    const [alice] = (await takeInvitationsToDeliver(store, 10, { at: at(1) })).filter((d) => d.email === 'Alice@Acme.example');
    const token = alice?.token as string;
    await expect(acceptInvitation(store, { token, email: 'mallory@acme.example', at: at(2) })).rejects.toMatchObject({
      name: 'InvitationError',
      code: 'InvitationEmailMismatch',
    });
    // Lookalikes of the invited address: a Cyrillic а, a fullwidth Ａ.
    for (const lookalike of ['\u0430lice@acme.example', '\uff21lice@acme.example']) {
      await expect(acceptInvitation(store, { token, email: lookalike, at: at(2) })).rejects.toMatchObject({ code: 'InvitationEmailMismatch' });
    }
    const accepted = await acceptInvitation(store, { token, email: 'ALICE@acme.example', at: at(2) });
    expect(accepted).toMatchObject({ workspaceId: 'acme', email: 'Alice@Acme.example', roleId: 'viewer', acceptedAt: at(2) });
    await expect(acceptInvitation(store, { token, email: 'alice@acme.example', at: at(3) })).rejects.toMatchObject({ code: 'InvitationAlreadyAccepted' });
    await expect(acceptInvitation(store, { token: 'not-a-token', email: 'alice@acme.example', at: at(3) })).rejects.toMatchObject({
      code: 'InvitationNotFound',
    });
    expect(await memberRow(store, 'alice@acme.example')).toMatchObject({ state: 'Active', invitation_state: 'Completed' });
  });

  it('refuses an expired invitation', async () => {
    const [first] = await takeInvitationsToDeliver(store, 1, { at: at(1) });
    await expect(acceptInvitation(store, { token: first?.token as string, email: first?.email as string, at: at(48) })).rejects.toMatchObject({
      code: 'InvitationExpired',
    });
  });

  it('drops tokens that can no longer be accepted instead of delivering them', async () => {
    expect(await takeInvitationsToDeliver(store, 10, { at: at(49) })).toEqual([]);
    const actions = (await listAudit(store.db)).map((e) => e.action);
    expect(actions.filter((a) => a === 'invitation.discard')).toHaveLength(3);
  });

  it('records logins, which status shows and the engine never overwrites', async () => {
    const [bob] = (await takeInvitationsToDeliver(store, 10, { at: at(1) })).filter((d) => d.email === 'bob@acme.example');
    await acceptInvitation(store, { token: bob?.token as string, email: 'bob@acme.example', at: at(2) });
    await recordLogin(store, { workspaceId: 'acme', email: 'BOB@acme.example', at: at(3) });
    await expect(recordLogin(store, { workspaceId: 'acme', email: 'nobody@acme.example', at: at(3) })).rejects.toBeInstanceOf(MemberNotFoundError);

    // A declaration change for bob: the engine rewrites its columns, not the application's.
    const changed = [workspace, declared[1], aMember({ name: 'bob', spec: { role: 'editor' } }), declared[3]].filter((o) => o !== undefined);
    const result = await syncAll(store, changed, at(4));
    expect(ops(result)).toEqual(['member.update acme/bob@acme.example']);
    expect(stateOf(result, 'Member', 'bob')).toMatchObject({ phase: 'Active', lastLoginAt: at(3).toISOString(), role: 'editor' });
    const row = await memberRow(store, 'bob@acme.example');
    expect(row?.accepted_at).not.toBeNull();

    const [read] = await readObjectStates(store, changed, [{ kind: 'Member', namespace: 'acme', name: 'bob' }], at(5), profile);
    expect(read).toMatchObject({ phase: 'Active', lastLoginAt: at(3).toISOString(), invitation: { state: 'Completed', respondedAt: at(2).toISOString() } });
  });

  it('audits deliveries, acceptances and logins, on the same chain', async () => {
    const [d] = await takeInvitationsToDeliver(store, 1, { at: at(1) });
    await acceptInvitation(store, { token: d?.token as string, email: d?.email as string, at: at(2), actor: 'app:signup' });
    await recordLogin(store, { workspaceId: 'acme', email: d?.email as string, at: at(3) });
    const log = await listAudit(store.db, { since: at(1) });
    expect(log.map((e) => [e.action, e.actor])).toEqual([
      ['invitation.deliver', 'application'],
      ['invitation.accept', 'app:signup'],
      ['member.login', 'application'],
    ]);
    expect(log[1]?.object).toMatchObject({ kind: 'Member', namespace: 'acme' });
    expect(JSON.stringify(log)).not.toContain(d?.token as string);
    expect((await verifyAuditChain(store.db)).ok).toBe(true);
  });
});
