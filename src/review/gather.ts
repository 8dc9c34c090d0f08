// Gathers what the access review needs from the store in a handful of bulk
// queries (one per table, not one per member), so 100,000 members and a
// million recorded decisions are read in seconds. Where an expired member's
// declaration lives (file and line) is found by reading the files the store
// names, or a folder the caller gives.
import { readFileSync } from 'node:fs';
import { sql, type Kysely } from 'kysely';
import type { StoreDialect } from '../store/migrations.js';
import { parseSource, type SourceObject } from '../source/load.js';
import { readBoolean, readInteger, readJson, readTime } from '../store/convert.js';
import type { Database } from '../store/schema.js';
import type { ReviewGrantInput, ReviewMemberInput, ReviewSource, ReviewWorkspaceInput } from './review.js';

const time = (value: unknown): number => Date.parse(readTime(value));
const optionalTime = (value: unknown): number | undefined => (value === null || value === undefined ? undefined : time(value));

export interface GatherOptions {
  /** How the store folds rows into one (group_concat or string_agg). */
  dialect: StoreDialect;
  workspaceId?: string;
  at: Date;
  /** Declarations already loaded (gatehouse review --source DIR), to find file:line for any member. */
  sources?: readonly SourceObject[];
}

function sourceKey(namespace: string | undefined, name: string): string {
  return `Member/${namespace ?? ''}/${name}`;
}

function locate(object: SourceObject): Pick<ReviewSource, 'file' | 'line' | 'expiresAtLine'> {
  const start = object.position('');
  const expires = object.object.kind === 'Member' && (object.object.spec as { expiresAt?: string }).expiresAt !== undefined ? object.position('spec.expiresAt') : undefined;
  return { file: object.file, line: start.line, ...(expires !== undefined ? { expiresAtLine: expires.line } : {}) };
}

export async function gatherReview(db: Kysely<Database>, options: GatherOptions): Promise<ReviewWorkspaceInput[]> {
  const at = options.at.getTime();
  let wsQuery = db.selectFrom('workspaces').selectAll().orderBy('workspace_id');
  if (options.workspaceId !== undefined) wsQuery = wsQuery.where('workspace_id', '=', options.workspaceId);
  const workspaceRows = await wsQuery.execute();
  if (workspaceRows.length === 0) return [];
  const only = <Q extends { where: (...args: never[]) => Q }>(q: Q, column: string): Q =>
    options.workspaceId === undefined ? q : ((q.where as unknown as (c: string, op: string, v: string) => Q)(column, '=', options.workspaceId));

  const permissionRows = await db.selectFrom('permissions').select(['permission_id', 'legacy', 'administrative']).execute();
  const legacyPermissions = new Set(permissionRows.filter((p) => readBoolean(p.legacy)).map((p) => p.permission_id));
  const legacyIsAdmin = permissionRows.some((p) => readBoolean(p.legacy) && readBoolean(p.administrative));

  const roleRows = await only(db.selectFrom('roles').select(['workspace_id', 'role_id', 'display_name', 'builtin', 'administrative']), 'workspace_id').execute();
  const rolePermissionRows = await only(db.selectFrom('role_permissions').select(['workspace_id', 'role_id', 'permission_id']), 'workspace_id').execute();
  const roles = new Map<string, Map<string, { displayName: string; builtin: boolean; administrative: boolean; permissions: Set<string> }>>();
  for (const r of roleRows) {
    let byId = roles.get(r.workspace_id);
    if (byId === undefined) roles.set(r.workspace_id, (byId = new Map()));
    byId.set(r.role_id, { displayName: r.display_name, builtin: readBoolean(r.builtin), administrative: readBoolean(r.administrative), permissions: new Set() });
  }
  for (const rp of rolePermissionRows) roles.get(rp.workspace_id)?.get(rp.role_id)?.permissions.add(rp.permission_id);

  // Recorded decisions inside the longest review period of the workspaces read.
  const longest = Math.max(...workspaceRows.map((w) => readInteger(w.access_review_interval_seconds) * 1000));
  // One row per member, its used permissions folded in by the database: a million recorded
  // decisions become a hundred thousand rows, which is what makes a large review fast.
  const since = new Date(at - longest).toISOString();
  const folded =
    options.dialect === 'postgres'
      ? sql<string>`string_agg(permission_id || '=' || (extract(epoch from last_allowed_at) * 1000)::bigint, ',')`
      : sql<string>`group_concat(permission_id || '=' || last_allowed_at, ',')`;
  const usageRows = await only(
    db
      .selectFrom('permission_usage')
      .select(['workspace_id', 'email_normalized', folded.as('used')])
      .where('last_allowed_at', '>=', since)
      .groupBy(['workspace_id', 'email_normalized']),
    'workspace_id',
  ).execute();
  const usage = new Map<string, Map<string, number>>();
  for (const u of usageRows) {
    const byPermission = new Map<string, number>();
    for (const pair of String(u.used ?? '').split(',')) {
      const cut = pair.indexOf('=');
      if (cut <= 0) continue;
      const value = pair.slice(cut + 1);
      byPermission.set(pair.slice(0, cut), options.dialect === 'postgres' ? Number(value) : time(value));
    }
    usage.set(`${u.workspace_id}\u0000${u.email_normalized}`, byPermission);
  }

  const memberRows = await only(
    db
      .selectFrom('members')
      .leftJoin('invitations', 'invitations.member_id', 'members.member_id')
      .select([
        'members.workspace_id',
        'members.email_normalized',
        'members.role_id',
        'members.expires_at',
        'members.accepted_at',
        'members.last_login_at',
        'members.managed',
        'members.source_kind',
        'members.source_namespace',
        'members.source_name',
        'members.source_file',
        'invitations.state as inv_state',
        'invitations.sent_at as inv_sent_at',
        'invitations.expires_at as inv_expires_at',
      ]),
    'members.workspace_id',
  ).execute();

  // Declarations of members whose access ended: from --source, else the files the store names.
  const located = new Map<string, Pick<ReviewSource, 'file' | 'line' | 'expiresAtLine'>>();
  for (const o of options.sources ?? []) if (o.object.kind === 'Member') located.set(sourceKey(o.object.metadata.namespace, o.object.metadata.name), locate(o));
  const filesToRead = new Set<string>();
  for (const m of memberRows) {
    const expired = m.expires_at !== null && time(m.expires_at) <= at;
    if (expired && readBoolean(m.managed) && m.source_file !== null && m.source_name !== null && !located.has(sourceKey(m.source_namespace ?? undefined, m.source_name))) {
      filesToRead.add(m.source_file);
    }
  }
  for (const file of filesToRead) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue; // Moved or not here: the report still names the file the store recorded.
    }
    for (const o of parseSource(file, text).objects) if (o.object.kind === 'Member') located.set(sourceKey(o.object.metadata.namespace, o.object.metadata.name), locate(o));
  }

  const members = new Map<string, ReviewMemberInput[]>();
  for (const m of memberRows) {
    const source: ReviewSource | undefined =
      m.source_name !== null
        ? {
            kind: m.source_kind ?? 'Member',
            ...(m.source_namespace !== null ? { namespace: m.source_namespace } : {}),
            name: m.source_name,
            ...(m.source_file !== null ? { file: m.source_file } : {}),
            ...located.get(sourceKey(m.source_namespace ?? undefined, m.source_name)),
          }
        : undefined;
    const expiresAt = optionalTime(m.expires_at);
    const acceptedAt = optionalTime(m.accepted_at);
    const lastLoginAt = optionalTime(m.last_login_at);
    const member: ReviewMemberInput = {
      email: m.email_normalized,
      roleId: m.role_id,
      ...(expiresAt !== undefined ? { expiresAt } : {}),
      ...(acceptedAt !== undefined ? { acceptedAt } : {}),
      ...(lastLoginAt !== undefined ? { lastLoginAt } : {}),
      ...(m.inv_state !== null && m.inv_sent_at !== null && m.inv_expires_at !== null
        ? { invitation: { state: m.inv_state, sentAt: time(m.inv_sent_at), expiresAt: time(m.inv_expires_at) } }
        : {}),
      declared: readBoolean(m.managed),
      ...(source !== undefined ? { source } : {}),
      used: usage.get(`${m.workspace_id}\u0000${m.email_normalized}`) ?? new Map(),
    };
    let list = members.get(m.workspace_id);
    if (list === undefined) members.set(m.workspace_id, (list = []));
    list.push(member);
  }

  // Support decisions per grant (its declared object), allowed and denied, over the grant's life.
  const decisionRows = await only(
    db
      .selectFrom('audit_log')
      .select((eb) => ['workspace_id', 'object_namespace', 'object_name', 'action', eb.fn.countAll<number | string>().as('n')])
      .where('action', 'in', ['support.allow', 'support.deny'])
      .groupBy(['workspace_id', 'object_namespace', 'object_name', 'action']),
    'workspace_id',
  ).execute();
  const decisions = new Map<string, { allowed: number; denied: number }>();
  for (const d of decisionRows) {
    const key = `${d.workspace_id}\u0000${d.object_namespace ?? ''}\u0000${d.object_name ?? ''}`;
    const counts = decisions.get(key) ?? { allowed: 0, denied: 0 };
    if (d.action === 'support.allow') counts.allowed += readInteger(d.n);
    else counts.denied += readInteger(d.n);
    decisions.set(key, counts);
  }
  const grantRows = await only(db.selectFrom('support_grants').selectAll(), 'workspace_id').execute();
  const grants = new Map<string, ReviewGrantInput[]>();
  for (const g of grantRows) {
    const agents = readJson<string[]>(g.agents);
    const revokedAt = optionalTime(g.revoked_at);
    const grant: ReviewGrantInput = {
      name: g.name,
      grantee: g.grantee_type === 'Agents' ? `agents: ${agents.join(', ')}` : 'the support team',
      scope: g.scope_type === 'Member' ? `member ${g.scope_member_email ?? '?'}` : 'workspace',
      accessLevel: g.access_level,
      startsAt: time(g.starts_at),
      endsAt: time(g.ends_at),
      ...(revokedAt !== undefined ? { revokedAt } : {}),
      reason: g.reason,
      ...(g.ticket !== null ? { ticket: g.ticket } : {}),
      decisions: decisions.get(`${g.workspace_id}\u0000${g.source_namespace ?? ''}\u0000${g.source_name ?? g.name}`) ?? { allowed: 0, denied: 0 },
    };
    let list = grants.get(g.workspace_id);
    if (list === undefined) grants.set(g.workspace_id, (list = []));
    list.push(grant);
  }

  return workspaceRows.map((w) => ({
    workspaceId: w.workspace_id,
    displayName: w.display_name,
    adminsMax: readInteger(w.admins_max),
    accessReviewIntervalMs: readInteger(w.access_review_interval_seconds) * 1000,
    inactivityThresholdMs: readInteger(w.inactivity_threshold_seconds) * 1000,
    roles: roles.get(w.workspace_id) ?? new Map(),
    legacyPermissions,
    legacyIsAdmin,
    members: members.get(w.workspace_id) ?? [],
    grants: grants.get(w.workspace_id) ?? [],
  }));
}
