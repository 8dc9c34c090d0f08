// The audit log holds up against someone who can write to the database
// (docs/security.md): entries carry an HMAC under a key the store does not
// hold, signed checkpoints of the head kept outside the store catch a log cut
// short or emptied, and on PostgreSQL the tables refuse UPDATE, DELETE and
// TRUNCATE of audit rows. Each case first shows the attack that the plain
// hash chain let through.
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { StoreEngine } from '../src/kube/controller/engine-adapter.js';
import { aMember, aWorkspace } from '../src/rules/testing/builders.js';
import { auditCheckpoint, listAudit, verifyAuditChain } from '../src/store/audit.js';
import { parseAuditKeyring, parseCheckpoint, type AuditKeyring } from '../src/store/audit-key.js';
import { openStore, type Store } from '../src/store/store.js';
import { stringify } from 'yaml';
import { gatehouse } from './support/cli.js';
import { profile, syncAll } from './support/engine.js';
import { forEachDialect } from './support/stores.js';
import { rewriteHistory, tamper } from './support/tamper.js';

const T0 = '2026-06-01T00:00:00.000Z';
const T1 = '2026-06-02T00:00:00.000Z';
const key = (id: string) => `${id} ${randomBytes(32).toString('base64')}`;

describe('audit keyring', () => {
  it.each([
    ['', /holds no audit key/],
    ['c2hvcnQ=', /the audit key is 5 bytes; use at least 32/],
    ['bad/id c2hvcnQ=', /key id "bad\/id"/],
    ['a b c', /one key a line/],
  ])('refuses %j with a clear error', (text, message) => {
    expect(() => parseAuditKeyring(text, 'test keyring')).toThrow(message);
  });

  it('signs with the first key and names a key given without an id by its fingerprint', () => {
    const secret = randomBytes(32).toString('hex');
    const ring = parseAuditKeyring(`# rotated 2026-06\nnew ${randomBytes(32).toString('base64')}\n${secret}\n`, 'test keyring');
    expect(ring.signing.id).toBe('new');
    expect(ring.keys[1]?.id).toMatch(/^k-[0-9a-f]{12}$/);
  });
});

forEachDialect('audit authentication', (dialect) => {
  let store: Store;
  let dsn: string;
  let keys: AuditKeyring;
  const ws = aWorkspace({ spec: { admins: { min: 0, max: 1 } } });

  beforeEach(async () => {
    keys = parseAuditKeyring(key('k1'), 'test keyring');
    dsn = await dialect.newDsn();
    store = await openStore(dsn, { auditKeys: keys });
    await syncAll(store, [ws, aMember({ name: 'alice' }), aMember({ name: 'bob' })], T0);
    await syncAll(store, [ws, aMember({ name: 'alice', spec: { role: 'editor' } }), aMember({ name: 'bob' })], T1);
  });
  afterEach(async () => {
    await store.close();
  });

  it('signs every entry with the key id', async () => {
    const log = await listAudit(store.db);
    expect(log.length).toBeGreaterThan(3);
    expect(log.every((e) => e.keyId === 'k1' && /^[0-9a-f]{64}$/.test(e.mac ?? ''))).toBe(true);
    expect(await verifyAuditChain(store.db, { keys })).toEqual({ ok: true, entries: log.length, authenticated: true });
  });

  it('finding 1: an old entry rewritten with every later hash and the head recomputed fails with the key', async () => {
    await rewriteHistory(store, 2, { actor: 'someone-else' });
    // The plain chain is fooled: this is the attack.
    expect(await verifyAuditChain(store.db)).toMatchObject({ ok: true });
    const result = await verifyAuditChain(store.db, { keys });
    expect(result).toMatchObject({ ok: false, firstBad: { seq: 2, problem: 'forged' } });
    expect(result.firstBad?.message).toMatch(/rewritten by someone who does not hold the audit key/);
  });

  it('finding 1: stripping the MACs off a rewritten log does not help', async () => {
    await rewriteHistory(store, 3, { actor: 'someone-else' }, 'drop');
    expect(await verifyAuditChain(store.db, { keys })).toMatchObject({ ok: false, firstBad: { seq: 3, problem: 'unsigned' } });
  });

  it('finding 1: DELETE FROM audit_log and audit_head fails against a checkpoint', async () => {
    const checkpoint = await auditCheckpoint(store.db, keys, new Date(T1));
    expect(await verifyAuditChain(store.db, { keys, checkpoint })).toMatchObject({ ok: true, checkpoint: { seq: checkpoint.seq } });
    await tamper(store, async (db) => {
      await db.deleteFrom('audit_log').execute();
      await db.deleteFrom('audit_head').execute();
    });
    // Without the checkpoint an empty log looks intact: this is the attack.
    expect(await verifyAuditChain(store.db, { keys })).toEqual({ ok: true, entries: 0, authenticated: true });
    const result = await verifyAuditChain(store.db, { keys, checkpoint });
    expect(result).toMatchObject({ ok: false, firstBad: { seq: 1, problem: 'checkpoint-missing' } });
    expect(result.firstBad?.message).toMatch(new RegExp(`recorded entry ${checkpoint.seq}: entries were deleted from the end`));
  });

  it('finding 1: entries cut off the end with the head moved back fail against a checkpoint', async () => {
    const checkpoint = await auditCheckpoint(store.db, keys, new Date(T1));
    const keep = checkpoint.seq - 2;
    const kept = (await listAudit(store.db)).find((e) => e.seq === keep);
    await tamper(store, async (db) => {
      await db.deleteFrom('audit_log').where('seq', '>', keep).execute();
      await db.updateTable('audit_head').set({ seq: keep, hash: kept?.hash as string }).execute();
    });
    expect(await verifyAuditChain(store.db, { keys })).toMatchObject({ ok: true });
    expect(await verifyAuditChain(store.db, { keys, checkpoint })).toMatchObject({ ok: false, firstBad: { seq: keep + 1, problem: 'checkpoint-missing' } });
  });

  it('finding 1: a checkpoint edited to match a rewritten log is refused', async () => {
    const checkpoint = await auditCheckpoint(store.db, keys, new Date(T1));
    expect(await verifyAuditChain(store.db, { keys, checkpoint: { ...checkpoint, seq: checkpoint.seq - 1 } })).toMatchObject({
      ok: false,
      firstBad: { problem: 'checkpoint-forged' },
    });
  });

  it('finding 1: after a rotation, entries of the old key verify while the keyring keeps it', async () => {
    await store.close();
    const rotated = parseAuditKeyring(`${key('k2')}\n${keys.keys.map((k) => `${k.id} ${k.secret.toString('base64')}`).join('\n')}`, 'rotated');
    store = await openStore(dsn, { auditKeys: rotated });
    await syncAll(store, [ws, aMember({ name: 'alice', spec: { role: 'editor' } })], '2026-06-03T00:00:00.000Z', {
      removalGuard: { maxShare: 1, allow: true },
    });
    const log = await listAudit(store.db);
    expect(new Set(log.map((e) => e.keyId))).toEqual(new Set(['k1', 'k2']));
    expect(await verifyAuditChain(store.db, { keys: rotated })).toMatchObject({ ok: true, authenticated: true });
    const newOnly = parseAuditKeyring(rotated.keys.slice(0, 1).map((k) => `${k.id} ${k.secret.toString('base64')}`).join('\n'), 'new only');
    expect(await verifyAuditChain(store.db, { keys: newOnly })).toMatchObject({ ok: false, firstBad: { seq: 1, problem: 'unknown-key' } });
  });

  it('finding 1: the operator exports a signed checkpoint on every sync that writes', async () => {
    const engine = new StoreEngine(store, profile);
    const result = await engine.sync([ws, aMember({ name: 'carol' })], { type: 'objects', refs: [{ kind: 'Member', namespace: 'acme', name: 'carol' }] }, new Date(T1));
    expect(result.changes).toBeGreaterThan(0);
    const checkpoint = parseCheckpoint(JSON.stringify(result.auditCheckpoint), 'sync result');
    const log = await listAudit(store.db);
    expect(checkpoint).toMatchObject({ seq: log.length, hash: log.at(-1)?.hash, keyId: 'k1' });
    expect(await verifyAuditChain(store.db, { keys, checkpoint })).toMatchObject({ ok: true });
    const again = await engine.sync([ws, aMember({ name: 'carol' })], { type: 'objects', refs: [{ kind: 'Member', namespace: 'acme', name: 'carol' }] }, new Date(T1));
    expect(again.changes).toBe(0);
    expect(again.auditCheckpoint).toBeUndefined();
  });

  // PostgreSQL only: SQLite has no roles or triggers of this kind, so these are not registered there.
  const itOnPostgres = dialect.name === 'postgres' ? it : () => undefined;

  itOnPostgres('[PostgreSQL only] finding 1: PostgreSQL refuses UPDATE, DELETE and TRUNCATE of audit rows', async () => {
    await expect(store.db.updateTable('audit_log').set({ actor: 'x' }).where('seq', '=', 1).execute()).rejects.toThrow(/append-only: UPDATE/);
    await expect(store.db.deleteFrom('audit_log').where('seq', '=', 1).execute()).rejects.toThrow(/append-only: DELETE/);
    await expect(sql`truncate audit_log`.execute(store.db)).rejects.toThrow(/append-only: TRUNCATE/);
    expect(await verifyAuditChain(store.db, { keys })).toMatchObject({ ok: true });
  });

  itOnPostgres('[PostgreSQL only] finding 1: a SELECT-only role verifies the log', async () => {
    const reader = `reader_${randomBytes(4).toString('hex')}`;
    const admin = new pg.Client({ connectionString: dsn });
    await admin.connect();
    try {
      const schema = (await admin.query<{ s: string }>('select current_schema() as s')).rows[0]?.s as string;
      await admin.query(`create role ${reader} login`);
      await admin.query(`grant usage on schema "${schema}" to ${reader}`);
      await admin.query(`grant select on all tables in schema "${schema}" to ${reader}`);
    } finally {
      await admin.end();
    }
    const url = new URL(dsn);
    url.username = reader;
    const readOnly = await openStore(url.toString(), { migrate: 'check' });
    try {
      const checkpoint = await auditCheckpoint(readOnly.db, keys, new Date(T1));
      expect(await verifyAuditChain(readOnly.db, { keys, checkpoint })).toMatchObject({ ok: true, authenticated: true });
      await expect(readOnly.db.deleteFrom('audit_log').execute()).rejects.toThrow(/permission denied/);
    } finally {
      await readOnly.close();
    }
  });
});

describe('gatehouse audit checkpoint and --verify --checkpoint (CLI, SQLite)', () => {
  let dir: string;
  let storePath: string;
  let keyFile: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-audit-cli-'));
    storePath = join(dir, 'store.db');
    keyFile = join(dir, 'audit.key');
    writeFileSync(keyFile, `${key('k1')}\n`, { mode: 0o600 });
    const decl = join(dir, 'decl');
    mkdirSync(decl);
    writeFileSync(join(decl, 'acme.yaml'), [aWorkspace({ spec: { admins: { min: 0, max: 1 } } }), aMember({ name: 'alice' })].map((o) => stringify(o)).join('---\n'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('finding 1: a checkpoint printed after apply proves the log later lost entries', async () => {
    const env = { GATEHOUSE_AUDIT_KEY_FILE: keyFile };
    const applied = await gatehouse(['apply', join(dir, 'decl'), '--store', storePath, '--at', T0], env);
    expect(applied.code, applied.stderr).toBe(0);
    const printed = await gatehouse(['audit', 'checkpoint', '--store', storePath], env);
    expect(printed.code, printed.stderr).toBe(0);
    const checkpoint = parseCheckpoint(printed.stdout, 'stdout');
    expect(checkpoint.keyId).toBe('k1');
    const checkpointFile = join(dir, 'checkpoint.json');
    writeFileSync(checkpointFile, printed.stdout);

    const intact = await gatehouse(['audit', '--verify', '--checkpoint', checkpointFile, '--store', storePath], env);
    expect(intact.code, intact.stderr).toBe(0);
    expect(intact.stdout).toMatch(/Every entry carries a valid MAC/);
    expect(intact.stdout).toMatch(new RegExp(`still holds entry ${checkpoint.seq}`));

    const db = await openStore(`sqlite:${storePath}`);
    await db.db.deleteFrom('audit_log').execute();
    await db.db.deleteFrom('audit_head').execute();
    await db.close();
    const emptied = await gatehouse(['audit', '--verify', '--store', storePath], env);
    expect(emptied.stdout).toMatch(/intact: 0 entries[\s\S]*No checkpoint was given/);
    const caught = await gatehouse(['audit', '--verify', '--checkpoint', checkpointFile, '--store', storePath], env);
    expect(caught.code).toBe(1);
    expect(caught.stdout).toMatch(/Audit log broken at entry 1: the log ends at entry 0 but the checkpoint .* recorded entry \d+/);
  });

  it('says when the log was verified without a key, and refuses a checkpoint without one', async () => {
    await gatehouse(['apply', join(dir, 'decl'), '--store', storePath, '--at', T0]);
    const verified = await gatehouse(['audit', '--verify', '--store', storePath]);
    expect(verified.code).toBe(0);
    expect(verified.stdout).toMatch(/Not authenticated: no audit key was given/);
    const refused = await gatehouse(['audit', 'checkpoint', '--store', storePath]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/signs with the audit key: give --audit-key-file/);
  });
});
