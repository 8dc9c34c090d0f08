// The store's schema: created on open from nothing, upgraded from every earlier
// version with its data intact, equal to a fresh schema either way, and a
// schema newer than this build refused.
import { sql, type Kysely } from 'kysely';
import { expect, it } from 'vitest';
import { auditHash, GENESIS_HASH } from '../src/store/audit.js';
import { LATEST_SCHEMA_VERSION, MIGRATIONS } from '../src/store/migrations.js';
import type { Database } from '../src/store/schema.js';
import { openStore, type Store } from '../src/store/store.js';
import { forEachDialect } from './support/stores.js';
import { raceWorkers } from './support/run-worker.js';

const AT = '2026-03-01T10:00:00.000Z';

const source = (kind: string, name: string) => ({
  deletion_policy: 'Delete',
  managed: true,
  source_kind: kind,
  source_namespace: 'acme',
  source_name: name,
  source_uid: null,
  source_generation: null,
  source_file: 'acme.yaml',
  written_digest: 'd',
  created_at: AT,
  updated_at: AT,
});

/** Rows that exist at each schema version, written with that version's tables only. */
const fixtures: Record<number, (db: Kysely<Database>) => Promise<void>> = {
  1: async (db) => {
    await db
      .insertInto('workspaces')
      .values({
        workspace_id: 'acme',
        display_name: 'Acme',
        two_factor: 'Required',
        sso_enforced: false,
        saml_idp_entity_id: null,
        saml_sso_url: null,
        saml_signing_certificate: null,
        ip_allowlist: '["10.0.0.0/8"]',
        idle_session_timeout_seconds: 86400,
        invitation_lifetime_seconds: 604800,
        max_temporary_access_seconds: null,
        admins_min: 1,
        admins_max: 1,
        access_review_interval_seconds: 1209600,
        inactivity_threshold_seconds: 2592000,
        support_allowed: true,
        support_max_duration_seconds: 2592000,
        support_allow_read_write: false,
        ...source('Workspace', 'acme'),
      })
      .execute();
    await db
      .insertInto('roles')
      .values({ workspace_id: 'acme', role_id: 'viewer', display_name: 'Viewer', description: '', builtin: true, administrative: false, ...source('Workspace', 'acme') })
      .execute();
    await db.insertInto('role_permissions').values({ workspace_id: 'acme', role_id: 'viewer', permission_id: 'view-dashboard' }).execute();
    await db
      .insertInto('members')
      .values({
        member_id: '00000000-0000-4000-8000-000000000001',
        workspace_id: 'acme',
        email: 'Alice@Acme.example',
        email_normalized: 'alice@acme.example',
        display_name: 'Alice',
        phone: null,
        role_id: 'viewer',
        login_type: 'Local',
        expires_at: null,
        state: 'Active',
        accepted_at: AT,
        last_login_at: null,
        ...source('Member', 'alice'),
      })
      .execute();
  },
  2: async (db) => {
    await db
      .insertInto('invitations')
      .values({
        invitation_id: '00000000-0000-4000-8000-000000000002',
        member_id: '00000000-0000-4000-8000-000000000001',
        token_hash: 'f'.repeat(64),
        state: 'Completed',
        sender: 'cli:test',
        sent_at: AT,
        expires_at: '2026-03-08T10:00:00.000Z',
        responded_at: AT,
        sent_count: 1,
        resend_requested: 0,
        created_at: AT,
      })
      .execute();
  },
  3: async (db) => {
    // The row as version 3 wrote it (later versions add columns).
    const entry = { seq: 1, at: AT, actor: 'cli:test', action: 'member.create', object: { kind: 'Member', namespace: 'acme', name: 'alice' }, reason: 'fixture', prevHash: GENESIS_HASH };
    const hash = auditHash(entry);
    await db
      .insertInto('audit_log')
      .values({ seq: 1, at: AT, actor: entry.actor, action: entry.action, object_kind: 'Member', object_namespace: 'acme', object_name: 'alice', reason: entry.reason, prev_hash: GENESIS_HASH, hash } as never)
      .execute();
    await db.insertInto('audit_head').values({ id: 1, seq: 1, hash }).execute();
  },
};

async function columnsOf(store: Store): Promise<string[]> {
  let schema: string | undefined;
  if (store.dialect === 'postgres') {
    schema = (await sql<{ s: string }>`select current_schema() as s`.execute(store.db)).rows[0]?.s;
  }
  const tables = await store.db.introspection.getTables();
  return tables
    .filter((t) => schema === undefined || t.schema === schema)
    .flatMap((t) => t.columns.map((c) => `${t.name}.${c.name}:${c.dataType}:${c.isNullable ? 'null' : 'not null'}`))
    .sort();
}

async function rowCounts(store: Store): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const table of ['workspaces', 'roles', 'role_permissions', 'members', 'invitations', 'audit_log'] as const) {
    const row = await store.db.selectFrom(table).select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow();
    out[table] = Number(row.n);
  }
  return out;
}

forEachDialect('store migrations', (dialect) => {
  it('creates the latest schema in an empty store and records every version', async () => {
    const store = await dialect.open();
    try {
      const versions = await store.db.selectFrom('gatehouse_schema_migrations').select(['version', 'name']).orderBy('version').execute();
      expect(versions.map((v) => Number(v.version))).toEqual(MIGRATIONS.map((m) => m.version));
      expect(versions.length).toBe(LATEST_SCHEMA_VERSION);
      expect(await rowCounts(store)).toEqual({ workspaces: 0, roles: 0, role_permissions: 0, members: 0, invitations: 0, audit_log: 0 });
    } finally {
      await store.close();
    }
  });

  it('opening an up-to-date store again changes nothing', async () => {
    const dsn = await dialect.newDsn();
    const first = await openStore(dsn);
    const before = await columnsOf(first);
    await first.close();
    const second = await openStore(dsn);
    try {
      expect(await columnsOf(second)).toEqual(before);
      const versions = await second.db.selectFrom('gatehouse_schema_migrations').selectAll().execute();
      expect(versions).toHaveLength(LATEST_SCHEMA_VERSION);
    } finally {
      await second.close();
    }
  });

  const earlier = Array.from({ length: LATEST_SCHEMA_VERSION }, (_, i) => i); // 0 = empty
  it.each(earlier)('upgrades a store at version %i to the latest, keeping its rows', async (version) => {
    const fresh = await dialect.open();
    const expectedColumns = await columnsOf(fresh);
    await fresh.close();

    const dsn = await dialect.newDsn();
    const old = await openStore(dsn, { migrate: version === 0 ? false : version });
    for (let v = 1; v <= version; v += 1) await fixtures[v]?.(old.db);
    await old.close();

    const upgraded = await openStore(dsn);
    try {
      expect(await columnsOf(upgraded)).toEqual(expectedColumns);
      const counts = await rowCounts(upgraded);
      expect(counts.workspaces).toBe(version >= 1 ? 1 : 0);
      expect(counts.members).toBe(version >= 1 ? 1 : 0);
      expect(counts.role_permissions).toBe(version >= 1 ? 1 : 0);
      expect(counts.invitations).toBe(version >= 2 ? 1 : 0);
      expect(counts.audit_log).toBe(version >= 3 ? 1 : 0);
      const alice = await upgraded.db.selectFrom('members').selectAll().executeTakeFirst();
      if (version >= 1) expect(alice?.email).toBe('Alice@Acme.example');
    } finally {
      await upgraded.close();
    }
  });

  it('refuses a store whose schema is newer than this build', async () => {
    const dsn = await dialect.newDsn();
    const store = await openStore(dsn);
    await store.db.insertInto('gatehouse_schema_migrations').values({ version: 99, name: 'from-the-future', applied_at: AT }).execute();
    await store.close();
    await expect(openStore(dsn)).rejects.toThrow(/newer than this Gatehouse knows/);
  });

  it('lets two processes open a new store at once', async () => {
    const dsn = await dialect.newDsn();
    const results = await raceWorkers([['open', dsn], ['open', dsn]]);
    expect(results.map((r) => r.ok)).toEqual([true, true]);
    const store = await openStore(dsn);
    try {
      const versions = await store.db.selectFrom('gatehouse_schema_migrations').selectAll().execute();
      expect(versions).toHaveLength(LATEST_SCHEMA_VERSION);
    } finally {
      await store.close();
    }
  });
});
