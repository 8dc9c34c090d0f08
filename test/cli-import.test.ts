// gatehouse import on SQLite and PostgreSQL: rows written by hand (no declared object owns them)
// come out as YAML that validate passes and whose plan is empty; nobody is invited again.
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeEach, expect, it } from 'vitest';
import { runImport } from '../src/cli/commands/import.js';
import { runValidate } from '../src/cli/commands/validate.js';
import { StoreEngine } from '../src/kube/controller/engine-adapter.js';
import type { GatehouseObject } from '../src/model/kinds.js';
import { getDefaultProfile } from '../src/model/profile.js';
import { refOfObject } from '../src/reconcile/plan.js';
import { syncToStore } from '../src/sync/sync.js';
import { loadSources } from '../src/source/load.js';
import { openStore, type Store } from '../src/store/store.js';
import { forEachDialect } from './support/stores.js';

const AT = '2026-03-01T10:00:00.000Z';
// Rows as they stand today: a temporary access and a support grant still running.
const hour = 3_600_000;
const STARTED = new Date(Math.floor(Date.now() / hour) * hour - hour).toISOString();
const IN_TWO_DAYS = new Date(Math.floor(Date.now() / hour) * hour + 48 * hour).toISOString();
const IN_A_MONTH = new Date(Math.floor(Date.now() / hour) * hour + 30 * 24 * hour).toISOString();
const unowned = { deletion_policy: 'Delete', managed: false, source_kind: null, source_namespace: null, source_name: null, source_uid: null, source_generation: null, source_file: null, written_digest: '', created_at: AT, updated_at: AT };
const dirs: string[] = [];

afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function workspaceRow(id: string, name: string) {
  return {
    workspace_id: id, display_name: name, two_factor: 'Required', sso_enforced: false, saml_idp_entity_id: null, saml_sso_url: null, saml_signing_certificate: null,
    ip_allowlist: '["203.0.113.0/24"]', idle_session_timeout_seconds: 43200, invitation_lifetime_seconds: 604800, max_temporary_access_seconds: 7776000,
    admins_min: 1, admins_max: 2, access_review_interval_seconds: 1209600, inactivity_threshold_seconds: 2592000,
    support_allowed: true, support_max_duration_seconds: 604800, support_allow_read_write: false, ...unowned,
  };
}

let n = 0;
function memberRow(workspace: string, email: string, name: string, role: string | null, extra: Record<string, unknown> = {}) {
  n += 1;
  return {
    member_id: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`, workspace_id: workspace, email, email_normalized: email.toLowerCase(), display_name: name,
    phone: null, role_id: role, login_type: 'Local', expires_at: null, state: 'Active', accepted_at: AT, last_login_at: AT, ...unowned, ...extra,
  };
}

/** A store an application filled before Gatehouse: only the permission catalog was written by Gatehouse. */
async function legacyStore(store: Store): Promise<void> {
  await syncToStore(store, [], { at: new Date(AT), actor: 'test', scope: { type: 'all' }, profile: getDefaultProfile() });
  const db = store.db;
  await db.insertInto('workspaces').values([workspaceRow('globex-prod', 'Globex'), workspaceRow('initech', 'Initech')]).execute();
  // The product's default roles, as the application created them in every workspace.
  const profile = getDefaultProfile();
  for (const workspace of ['globex-prod', 'initech']) {
    for (const role of profile.defaultRoles.values()) {
      const administrative = role.permissions.some((p) => profile.adminPermissions.has(p));
      await db.insertInto('roles').values({ workspace_id: workspace, role_id: role.id, display_name: role.displayName, description: role.description, builtin: true, administrative, ...unowned }).execute();
      await db.insertInto('role_permissions').values([...new Set(role.permissions)].map((p) => ({ workspace_id: workspace, role_id: role.id, permission_id: p }))).execute();
    }
  }
  await db.insertInto('roles').values({ workspace_id: 'globex-prod', role_id: 'campaign-analyst', display_name: 'Campaign Analyst', description: 'Reads campaigns.', builtin: false, administrative: false, ...unowned }).execute();
  await db.insertInto('role_permissions').values(['view-dashboard', 'create-segment'].map((p) => ({ workspace_id: 'globex-prod', role_id: 'campaign-analyst', permission_id: p }))).execute();
  await db
    .insertInto('members')
    .values([
      memberRow('globex-prod', 'Hank.Scorpio@globex.example', 'Hank Scorpio', 'admin'),
      memberRow('globex-prod', 'homer@globex.example', 'Homer', 'campaign-analyst', { expires_at: IN_A_MONTH, phone: '+15555550100' }),
      memberRow('globex-prod', 'homer@partner.example', 'Homer from the partner', 'viewer', { login_type: 'Local' }),
      memberRow('globex-prod', 'frank@globex.example', 'Frank', null),
      memberRow('initech', 'bill@initech.example', 'Bill Lumbergh', 'admin'),
    ])
    .execute();
  await db
    .insertInto('support_grants')
    .values({
      grant_id: '00000000-0000-4000-9000-000000000001', workspace_id: 'globex-prod', name: 'ticket-4711', grantee_type: 'SupportTeam', agents: '[]',
      scope_type: 'Member', scope_member_email: 'homer@globex.example', access_level: 'ReadOnly', starts_at: STARTED, ends_at: IN_TWO_DAYS,
      reason: 'Homer cannot see the Q3 campaign; support needs to look at his view.', ticket: 'SUP-4711', state: 'Active', revoked_at: null, ...unowned,
    })
    .execute();
}

forEachDialect('gatehouse import', (dialect) => {
  let store: Store;
  let dsn: string;
  let out: string;
  beforeEach(async () => {
    dsn = await dialect.newDsn();
    store = await openStore(dsn);
    await legacyStore(store);
    out = join(mkdtempSync(join(tmpdir(), 'gatehouse-import-')), 'out');
    dirs.push(join(out, '..'));
    return () => store.close();
  });

  const plan = (paths: string[]) =>
    loadSources(paths).then((load) =>
      syncToStore(store, load.objects.map((s) => s.object), { at: new Date(), actor: 'test', scope: { type: 'all' }, profile: getDefaultProfile(), dryRun: true }),
    );

  it('writes every workspace as files that validate passes, and a plan of them is empty', async () => {
    let said = '';
    const code = await runImport({ store: dsn, out }, (text) => (said += text));
    expect(said).toMatch(/^Imported 2 workspaces, 1 roles, 5 members and 1 support grants into .+; \d+ rows adopted\.\n$/);
    expect(code).toBe(0);
    expect(readdirSync(out).sort()).toEqual(['globex-prod', 'initech']);
    expect(readdirSync(join(out, 'globex-prod')).sort()).toEqual(['members.yaml', 'roles.yaml', 'support-grants.yaml', 'workspace.yaml']);

    let report = '';
    const valid = await runValidate([out], {}, (text) => (report += text));
    // The legacy member (no role) is declared as it is, with the rule's advice.
    expect(report).toMatch(/members\.yaml:\d+:\d+: warning NoRoleAssigned Member globex-prod\/frank spec\.role: .*\n0 errors, 1 warning in 9 objects from 6 files\n$/);
    expect(valid).toBe(0);

    const again = await plan([out]);
    expect(again.plan.actions).toEqual([]);

    // Names come from the rows: emails' local parts, with a suffix where two collide.
    const members = readFileSync(join(out, 'globex-prod/members.yaml'), 'utf8');
    expect(members).toContain('name: homer\n');
    expect(members).toContain('name: homer-2\n');
    expect(members).toContain('email: Hank.Scorpio@globex.example');
    expect(readFileSync(join(out, 'globex-prod/support-grants.yaml'), 'utf8')).toMatch(/memberRef:\n\s+name: homer\n/);
  });

  it('adopts the rows: nobody gets an invitation, and what the application wrote stays', async () => {
    await runImport({ store: dsn, out }, () => undefined);
    const invitations = await store.db.selectFrom('invitations').selectAll().execute();
    expect(invitations).toEqual([]);
    const rows = await store.db.selectFrom('members').select(['email_normalized', 'managed', 'source_kind', 'source_name', 'accepted_at', 'state']).orderBy('email_normalized').execute();
    expect(rows.map((r) => [r.email_normalized, Boolean(r.managed), r.source_kind, r.source_name, r.state])).toEqual([
      ['bill@initech.example', true, 'Member', 'bill', 'Active'],
      ['frank@globex.example', true, 'Member', 'frank', 'Active'],
      ['hank.scorpio@globex.example', true, 'Member', 'hank-scorpio', 'Active'],
      ['homer@globex.example', true, 'Member', 'homer', 'Active'],
      ['homer@partner.example', true, 'Member', 'homer-2', 'Active'],
    ]);
    expect(rows.every((r) => r.accepted_at !== null)).toBe(true);
  });

  it('the operator, reconciling the imported objects from a cluster, changes nothing and invites nobody', async () => {
    expect(await runImport({ store: dsn, out }, () => undefined)).toBe(0);
    const load = await loadSources([out]);
    // As the API server hands them to the operator: with uid, generation and creation time.
    const inCluster = load.objects.map(({ object }, i) => ({
      ...object,
      metadata: { ...object.metadata, uid: `00000000-0000-4000-a000-${String(i).padStart(12, '0')}`, generation: 1, creationTimestamp: AT },
    })) as GatehouseObject[];
    const engine = new StoreEngine(store, getDefaultProfile());
    const result = await engine.sync(inCluster, { type: 'objects', refs: inCluster.map(refOfObject) }, new Date());
    expect(result.violations.filter((v) => v.severity === 'error')).toEqual([]);
    expect(result.changes).toBe(0);
    expect(result.applied).toBe(false);
    expect(await store.db.selectFrom('invitations').selectAll().execute()).toEqual([]);
  });

  it('imports one workspace with --workspace and leaves the others alone', async () => {
    expect(await runImport({ store: dsn, out, workspace: 'initech' }, () => undefined)).toBe(0);
    expect(readdirSync(out)).toEqual(['initech']);
    const globex = await store.db.selectFrom('members').select(['managed']).where('workspace_id', '=', 'globex-prod').execute();
    expect(globex.every((r) => !r.managed)).toBe(true);
  });

  it('writes nothing when a row cannot be declared as it is', async () => {
    // A role id with a permission the product does not have: no file could declare it.
    await store.db.insertInto('role_permissions').values({ workspace_id: 'globex-prod', role_id: 'campaign-analyst', permission_id: 'launch-rockets' }).execute();
    let said = '';
    expect(await runImport({ store: dsn, out }, (text) => (said += text))).toBe(1);
    expect(said).toContain('gatehouse import wrote nothing');
    expect(said).toContain('UnknownPermission');
    expect(readdirSync(join(out, '..'))).toEqual([]);
  });

  it('refuses rather than invite an Active member the application never recorded accepting', async () => {
    await store.db.updateTable('members').set({ accepted_at: null }).where('email_normalized', '=', 'frank@globex.example').execute();
    let said = '';
    expect(await runImport({ store: dsn, out }, (text) => (said += text))).toBe(1);
    expect(said).toMatch(/issue-invitation member globex-prod\/frank@globex\.example/);
    expect(await store.db.selectFrom('invitations').selectAll().execute()).toEqual([]);
  });

  it('refuses a folder that is not empty, and a workspace the store does not have', async () => {
    await expect(runImport({ store: dsn, out: join(out, '..', '..') }, () => undefined)).rejects.toThrow('is not empty');
    await expect(runImport({ store: dsn, out, workspace: 'nope' }, () => undefined)).rejects.toThrow('--workspace nope: the store has no such workspace');
  });
});
