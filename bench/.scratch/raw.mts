import { openStore } from '/work/main/src/store/store.ts';
import { CompiledQuery, sql } from 'kysely';
import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
const at = '2026-06-01T00:00:00.000Z';
function rows(n: number, v7 = false) {
  const out = [];
  for (let i = 0; i < n; i++) out.push({ member_id: randomUUID(), workspace_id: 'ws-' + (i % 100), email: `p${i}@x.example`, email_normalized: `p${i}@x.example`, display_name: 'Person ' + i, phone: null, role_id: 'viewer', login_type: 'Local', expires_at: null, state: 'Invited', accepted_at: null, last_login_at: null, deletion_policy: 'Delete', managed: true, source_kind: 'Member', source_namespace: 'bench', source_name: 'n' + i, source_uid: null, source_generation: null, source_file: null, written_digest: 'x'.repeat(64), created_at: at, updated_at: at });
  return out;
}
async function setup(path: string) {
  rmSync(path, { force: true }); rmSync(path + '-wal', { force: true });
  const s = await openStore('sqlite:' + path);
  await s.db.insertInto('workspaces').values(Array.from({ length: 100 }, (_, i) => ({ workspace_id: 'ws-' + i, display_name: 'x', two_factor: 'Required', sso_enforced: false, saml_idp_entity_id: null, saml_sso_url: null, saml_signing_certificate: null, ip_allowlist: '[]', idle_session_timeout_seconds: 1, invitation_lifetime_seconds: 1, max_temporary_access_seconds: null, admins_min: 1, admins_max: 1, access_review_interval_seconds: 1, inactivity_threshold_seconds: 1, support_allowed: false, support_max_duration_seconds: 1, support_allow_read_write: false, deletion_policy: 'Delete', managed: true, source_kind: null, source_namespace: null, source_name: null, source_uid: null, source_generation: null, source_file: null, written_digest: 'x', created_at: at, updated_at: at }))).execute();
  await s.db.insertInto('roles').values(Array.from({ length: 100 }, (_, i) => ({ workspace_id: 'ws-' + i, role_id: 'viewer', display_name: 'v', description: '', builtin: true, administrative: false, deletion_policy: 'Delete', managed: true, source_kind: null, source_namespace: null, source_name: null, source_uid: null, source_generation: null, source_file: null, written_digest: 'x', created_at: at, updated_at: at }))).execute();
  return s;
}
{
  const s = await setup('/tmp/ghscratch/r1.db'); const r = rows(10000);
  const t0 = performance.now();
  await s.write(async (trx) => { for (let i = 0; i < r.length; i += 300) await trx.insertInto('members').values(r.slice(i, i + 300)).execute(); });
  console.log('kysely builder', Math.round(performance.now() - t0)); await s.close();
}
{
  const s = await setup('/tmp/ghscratch/r2.db'); const r = rows(10000);
  const cols = Object.keys(r[0]!);
  const t0 = performance.now();
  await s.write(async (trx) => {
    for (let i = 0; i < r.length; i += 300) {
      const chunk = r.slice(i, i + 300);
      const text = `insert into "members" (${cols.map(c => `"${c}"`).join(', ')}) values ${chunk.map(() => `(${cols.map(() => '?').join(', ')})`).join(', ')}`;
      const params = chunk.flatMap((row: any) => cols.map((c) => row[c]));
      await trx.executeQuery(CompiledQuery.raw(text, params));
    }
  });
  console.log('precompiled', Math.round(performance.now() - t0)); await s.close();
}
