// Small helpers for engine tests: sync with the default profile, read rows and
// snapshots of the store, find an object's state.
import type { GatehouseObject } from '../../src/model/kinds.js';
import { getDefaultProfile } from '../../src/model/profile.js';
import { syncToStore, type SyncOptions, type SyncResult } from '../../src/sync/sync.js';
import type { ObjectState } from '../../src/reconcile/types.js';
import { readTime } from '../../src/store/convert.js';
import type { Store } from '../../src/store/store.js';

export const profile = getDefaultProfile();

export function syncAll(store: Store, desired: readonly GatehouseObject[], at: string | Date, options: Partial<SyncOptions> = {}): Promise<SyncResult> {
  return syncToStore(store, desired, {
    at: new Date(at),
    actor: 'cli:test',
    scope: { type: 'all' },
    profile,
    ...options,
  });
}

export function stateOf(result: { states: ObjectState[] }, kind: string, name: string): ObjectState {
  const state = result.states.find((s) => s.ref.kind === kind && s.ref.name === name);
  if (state === undefined) throw new Error(`no state for ${kind} ${name}: ${result.states.map((s) => `${s.ref.kind}/${s.ref.name}`).join(', ')}`);
  return state;
}

export function ops(result: SyncResult): string[] {
  return result.plan.actions.map((a) => `${a.target}.${a.op} ${a.key}`);
}

export async function memberRow(store: Store, email: string) {
  return store.db
    .selectFrom('members')
    .leftJoin('invitations', 'invitations.member_id', 'members.member_id')
    .select([
      'members.member_id',
      'members.workspace_id',
      'members.role_id',
      'members.state',
      'members.expires_at',
      'members.accepted_at',
      'members.managed',
      'members.source_name',
      'members.source_generation',
      'invitations.state as invitation_state',
      'invitations.expires_at as invitation_expires_at',
      'invitations.sent_at as invitation_sent_at',
      'invitations.sent_count',
      'invitations.token_hash',
    ])
    .where('members.email_normalized', '=', email.toLowerCase())
    .executeTakeFirst();
}

/** Everything in the store except the audit log, as comparable plain data (ids and tokens hashed out). */
export async function snapshot(store: Store, options: { withIds?: boolean } = {}): Promise<unknown> {
  const db = store.db;
  const norm = (rows: Array<Record<string, unknown>>, drop: string[] = []) =>
    rows
      .map((row) => {
        const out: Record<string, unknown> = {};
        for (const [k, v] of Object.entries(row)) {
          if (drop.includes(k)) continue;
          out[k] = v instanceof Date ? v.toISOString() : typeof v === 'boolean' ? (v ? 1 : 0) : v !== null && typeof v === 'object' ? JSON.stringify(v) : v;
          if (typeof out[k] === 'string' && /^\d{4}-\d\d-\d\dT/.test(out[k] as string)) out[k] = readTime(out[k]);
          if (typeof out[k] === 'string' && ((out[k] as string).startsWith('[') || (out[k] as string).startsWith('{'))) {
            out[k] = JSON.stringify(JSON.parse(out[k] as string));
          }
        }
        return out;
      })
      .sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
  const ids = options.withIds ? [] : ['member_id', 'invitation_id', 'grant_id', 'outbox_id', 'token_hash', 'token'];
  return {
    permissions: norm(await db.selectFrom('permissions').selectAll().execute()),
    workspaces: norm(await db.selectFrom('workspaces').selectAll().execute()),
    roles: norm(await db.selectFrom('roles').selectAll().execute()),
    role_permissions: norm(await db.selectFrom('role_permissions').selectAll().execute()),
    members: norm(await db.selectFrom('members').selectAll().execute(), ids),
    invitations: norm(await db.selectFrom('invitations').selectAll().execute(), ids),
    invitation_outbox: norm(await db.selectFrom('invitation_outbox').selectAll().execute(), ids),
    support_grants: norm(await db.selectFrom('support_grants').selectAll().execute(), ids),
    audit_log: Number((await db.selectFrom('audit_log').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n),
  };
}
