// Finding 3: personal data (emails, names, phones) is kept beside the audit
// chain, not in it, so an erasure request (gatehouse audit redact) removes it
// and the log still verifies; a database writer deleting or changing it
// without recording an erasure is caught.
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { aMember, aWorkspace } from '../src/rules/testing/builders.js';
import { listAudit, redactPersonal, verifyAuditChain } from '../src/store/audit.js';
import { splitPersonal } from '../src/store/audit-personal.js';
import { parseAuditKeyring, type AuditKeyring } from '../src/store/audit-key.js';
import { openStore, type Store } from '../src/store/store.js';
import { gatehouse } from './support/cli.js';
import { syncAll } from './support/engine.js';
import { forEachDialect } from './support/stores.js';
import { tamper } from './support/tamper.js';

const T0 = '2026-06-01T00:00:00.000Z';
const ws = aWorkspace({ spec: { admins: { min: 0, max: 1 } } });
const alice = aMember({ name: 'alice', spec: { phone: '+15550100' } });
const bob = aMember({ name: 'bob' });

describe('splitPersonal', () => {
  it.each([
    ['member.create', { email: 'a@x.example', role: 'viewer' }, 'declared: invite a@x.example', { after: { email: '[personal]', role: 'viewer' }, reason: 'declared: invite [personal]' }],
    ['member.update', { phone: '+1555', displayName: 'Al' }, 'declaration changed (phone)', { after: { phone: '[personal]', displayName: '[personal]' }, reason: 'declaration changed (phone)' }],
    ['member.update', { role: 'viewer' }, 'declaration changed (role)', { after: { role: 'viewer' }, reason: 'declaration changed (role)' }],
    ['workspace.create', { displayName: 'Acme' }, 'declared', { after: { displayName: 'Acme' }, reason: 'declared' }],
    ['invitation.accept', { state: 'Active' }, 'bob@x.example accepted the invitation', { after: { state: 'Active' }, reason: '[personal] accepted the invitation' }],
  ])('%s with after %j and reason %j', (action, after, reason, expected) => {
    const split = splitPersonal(action, undefined, after, reason);
    expect({ after: split.after, reason: split.reason }).toEqual(expected);
  });
});

forEachDialect('personal data in the audit log', (dialect) => {
  let store: Store;
  let keys: AuditKeyring;
  beforeEach(async () => {
    keys = parseAuditKeyring(`k1 ${randomBytes(32).toString('base64')}`, 'test');
    store = await dialect.open({ auditKeys: keys });
    await syncAll(store, [ws, alice, bob], T0);
  });
  afterEach(async () => {
    await store.close();
  });

  it('keeps emails and phones out of the chained rows and shows them to readers', async () => {
    const raw = JSON.stringify(await store.db.selectFrom('audit_log').selectAll().execute());
    expect(raw).not.toMatch(/alice@acme\.example|\+15550100/i);
    const shown = await listAudit(store.db, { withPersonal: true });
    const created = shown.find((e) => e.action === 'member.create' && e.object?.name === 'alice');
    expect(created?.after).toMatchObject({ email: expect.stringMatching(/alice@acme\.example/i), phone: '+15550100' });
  });

  it('finding 3: redacting an email leaves a log that verifies, and records the erasure', async () => {
    const erased = await store.write((trx) => redactPersonal(trx, { email: 'ALICE@acme.example', at: new Date(T0), actor: 'cli:dpo', keys }));
    expect(erased.length).toBeGreaterThan(0);
    const result = await verifyAuditChain(store.db, { keys });
    expect(result).toMatchObject({ ok: true, authenticated: true, redacted: erased.length });
    const shown = await listAudit(store.db, { withPersonal: true });
    expect(JSON.stringify(shown)).not.toMatch(/alice@acme\.example|\+15550100/i);
    expect(JSON.stringify(shown)).toMatch(/bob@acme\.example/i);
    expect(shown.find((e) => e.action === 'member.create' && e.object?.name === 'alice')?.after).toMatchObject({ email: '[redacted]' });
    expect(shown.at(-1)).toMatchObject({ action: 'audit.redact', actor: 'cli:dpo', after: { entries: erased } });
  });

  it('finding 3: personal data deleted without a recorded erasure fails verification', async () => {
    const [first] = await store.db.selectFrom('audit_personal').select('seq').orderBy('seq').execute();
    await tamper(store, (db) => db.deleteFrom('audit_personal').where('seq', '=', Number(first?.seq)).execute().then(() => {}));
    expect(await verifyAuditChain(store.db, { keys })).toMatchObject({ ok: false, firstBad: { seq: Number(first?.seq), problem: 'redaction-unrecorded' } });
  });

  it('finding 3: personal data changed in place fails verification', async () => {
    const [first] = await store.db.selectFrom('audit_personal').select(['seq', 'data']).orderBy('seq').execute();
    const data = (typeof first?.data === 'string' ? first.data : JSON.stringify(first?.data)).replace(/alice|bob/i, 'mallory');
    await tamper(store, (db) => db.updateTable('audit_personal').set({ data }).where('seq', '=', Number(first?.seq)).execute().then(() => {}));
    expect(await verifyAuditChain(store.db, { keys })).toMatchObject({ ok: false, firstBad: { problem: 'personal-edited' } });
  });
});

describe('gatehouse audit redact (CLI, SQLite)', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-redact-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('finding 3: erases an email and audit --verify still passes', async () => {
    const decl = join(dir, 'decl');
    mkdirSync(decl);
    writeFileSync(join(decl, 'acme.yaml'), [ws, alice, bob].map((o) => stringify(o)).join('---\n'));
    const storePath = join(dir, 'store.db');
    expect((await gatehouse(['apply', decl, '--store', storePath, '--at', T0])).code).toBe(0);
    const redacted = await gatehouse(['audit', 'redact', '--email', 'alice@acme.example', '--store', storePath, '--reason', 'erasure request 42']);
    expect(redacted.code, redacted.stderr).toBe(0);
    expect(redacted.stdout).toMatch(/^Erased the personal data of \d+ audit entries/);
    const verified = await gatehouse(['audit', '--verify', '--store', storePath]);
    expect(verified.code, verified.stdout).toBe(0);
    expect(verified.stdout).toMatch(/entries had their personal data erased, each erasure recorded/);
    const listed = await gatehouse(['audit', '-o', 'json', '--store', storePath]);
    expect(listed.stdout).not.toMatch(/alice@acme\.example/i);
    const store = await openStore(`sqlite:${storePath}`, { migrate: 'check' });
    try {
      expect((await verifyAuditChain(store.db)).ok).toBe(true);
    } finally {
      await store.close();
    }
  });
});
