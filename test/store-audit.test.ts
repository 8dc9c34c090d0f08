// The audit log is a hash chain: verification passes on an untouched log and
// names the first entry that was edited, deleted (in the middle or at the
// end), re-linked or moved.
import { afterEach, beforeEach, expect, it } from 'vitest';
import { aMember, aWorkspace } from '../src/rules/testing/builders.js';
import { auditHash, listAudit, verifyAuditChain } from '../src/store/audit.js';
import type { Store } from '../src/store/store.js';
import { syncAll } from './support/engine.js';
import { forEachDialect } from './support/stores.js';
import { tamper } from './support/tamper.js';

const T0 = '2026-06-01T00:00:00.000Z';

forEachDialect('audit log', (dialect) => {
  let store: Store;
  let entries: number;
  beforeEach(async () => {
    store = await dialect.open();
    const ws = aWorkspace({ spec: { admins: { min: 0, max: 1 } } });
    await syncAll(store, [ws, aMember({ name: 'alice' }), aMember({ name: 'bob' })], T0);
    await syncAll(store, [ws, aMember({ name: 'alice', spec: { role: 'editor' } }), aMember({ name: 'bob' }), aMember({ name: 'carol' })], '2026-06-02T00:00:00.000Z');
    await syncAll(store, [aWorkspace({ name: 'other', spec: { workspaceId: 'other' } })], '2026-06-03T00:00:00.000Z', {
      removalGuard: { maxShare: 0.25, allow: true },
    });
    entries = (await listAudit(store.db)).length;
  });
  afterEach(async () => {
    await store.close();
  });

  it('records one entry per change, each chained to the one before', async () => {
    const log = await listAudit(store.db);
    expect(log.map((e) => e.seq)).toEqual(Array.from({ length: entries }, (_, i) => i + 1));
    for (let i = 1; i < log.length; i += 1) expect(log[i]?.prevHash).toBe(log[i - 1]?.hash);
    const { hash, ...rest } = log[3] as (typeof log)[number];
    expect(auditHash(rest)).toBe(hash);
    expect(log.map((e) => e.action)).toEqual(expect.arrayContaining(['workspace.create', 'member.create', 'member.update', 'workspace.delete']));
    expect(log.every((e) => e.actor === 'cli:test')).toBe(true);
    expect(await verifyAuditChain(store.db)).toEqual({ ok: true, entries, authenticated: false });
  });

  it('filters by workspace and by time', async () => {
    const other = await listAudit(store.db, { workspaceId: 'other' });
    expect(other.length).toBeGreaterThan(0);
    expect(other.every((e) => e.workspaceId === 'other')).toBe(true);
    const since = await listAudit(store.db, { since: new Date('2026-06-02T00:00:00.000Z') });
    expect(since.every((e) => e.at >= '2026-06-02T00:00:00.000Z')).toBe(true);
    expect(since.length).toBeLessThan(entries);
  });

  it('names an edited entry', async () => {
    await tamper(store, (db) => db.updateTable('audit_log').set({ reason: 'nothing to see' }).where('seq', '=', 5).execute().then(() => {}));
    expect(await verifyAuditChain(store.db)).toMatchObject({ ok: false, firstBad: { seq: 5, problem: 'edited' } });
  });

  it('names an edited entry even when its hash was recomputed to match', async () => {
    const [row] = await listAudit(store.db, { limit: 5 }).then((l) => l.slice(4));
    const forged = { ...(row as NonNullable<typeof row>), actor: 'someone-else' };
    const { hash: _old, keyId: _k, mac: _m, ...rest } = forged;
    await tamper(store, (db) => db.updateTable('audit_log').set({ actor: 'someone-else', hash: auditHash(rest) }).where('seq', '=', 5).execute().then(() => {}));
    const result = await verifyAuditChain(store.db);
    expect(result).toMatchObject({ ok: false, firstBad: { seq: 5, problem: 'relinked' } });
    expect(result.firstBad?.message).toMatch(/audit entry 5 was changed or replaced/);
  });

  it('names an entry deleted from the middle', async () => {
    await tamper(store, (db) => db.deleteFrom('audit_log').where('seq', '=', 4).execute().then(() => {}));
    const result = await verifyAuditChain(store.db);
    expect(result).toMatchObject({ ok: false, firstBad: { seq: 4, problem: 'missing' } });
    expect(result.firstBad?.message).toBe('audit entry 4: entry 4 is missing (deleted from the log)');
  });

  it('names entries cut off the end', async () => {
    await tamper(store, (db) => db.deleteFrom('audit_log').where('seq', '>=', entries - 1).execute().then(() => {}));
    expect(await verifyAuditChain(store.db)).toMatchObject({ ok: false, firstBad: { seq: entries - 1, problem: 'truncated' } });
  });

  it('names entries moved out of order', async () => {
    const log = await listAudit(store.db);
    const [a, b] = [log[2], log[6]] as [NonNullable<(typeof log)[number]>, NonNullable<(typeof log)[number]>];
    // Swap two entries' positions: each keeps its content and hash, under the other's seq.
    await tamper(store, async (db) => {
      await db.updateTable('audit_log').set({ seq: -1 }).where('seq', '=', a.seq).execute();
      await db.updateTable('audit_log').set({ seq: a.seq }).where('seq', '=', b.seq).execute();
      await db.updateTable('audit_log').set({ seq: b.seq }).where('seq', '=', -1).execute();
    });
    expect(await verifyAuditChain(store.db)).toMatchObject({ ok: false, firstBad: { seq: a.seq, problem: 'edited' } });
  });

  it('keeps appending a whole chain after more applies', async () => {
    await syncAll(store, [aWorkspace({ name: 'other', spec: { workspaceId: 'other', displayName: 'Other' } })], '2026-06-04T00:00:00.000Z');
    expect(await verifyAuditChain(store.db)).toEqual({ ok: true, entries: entries + 1, authenticated: false });
  });
});
