// Reads what the store holds into the planner's records: everything (a full
// sync) or the rows a few objects touch (a scoped sync from the operator).
import { sql, type Kysely } from 'kysely';
import type { DeletionPolicy } from '../model/common.js';
import type { Kind, ObjectRef } from '../model/kinds.js';
import {
  grantKey,
  memberKey,
  roleKey,
  type InvitationRecord,
  type MemberRecord,
  type MemberState,
  type PermissionRecord,
  type RoleRecord,
  type SourceRecord,
  type SupportGrantRecord,
  type SupportGrantState,
  type WorkspaceRecord,
} from '../reconcile/records.js';
import type { ObservedStore } from '../reconcile/types.js';
import {
  readBoolean,
  readInteger,
  readJson,
  readOptionalInteger,
  readOptionalString,
  readOptionalTime,
  readTime,
} from './convert.js';
import type { StoreDialect } from './migrations.js';
import type { Store } from './store.js';
import type { Database, MemberRow, RoleRow, SupportGrantRow, WorkspaceRow } from './schema.js';

/** Which rows to read: all of them, or those a scoped sync touches. */
export type ObservedSelection =
  | { type: 'all' }
  | {
      type: 'some';
      /** Workspaces read with all their roles and the counts the planner needs. */
      workspaceIds: string[];
      members: Array<{ workspaceId: string; emailNormalized: string }>;
      grants: Array<{ workspaceId: string; name: string }>;
      /** Rows owned by these objects, wherever they are. */
      sources: ObjectRef[];
      /**
       * Whether to count the members of the workspaces read (memberCounts,
       * roleUsage: a query over all their members). Default true; false when
       * nothing planned can remove a Workspace or Role (loadRowCounts later if it can).
       */
      counts?: boolean;
    };

const CHUNK = 500;

function chunks<T>(items: readonly T[], size = CHUNK): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

type SourceRowColumns = Pick<
  WorkspaceRow,
  | 'deletion_policy'
  | 'managed'
  | 'source_kind'
  | 'source_namespace'
  | 'source_name'
  | 'source_uid'
  | 'source_generation'
  | 'source_file'
  | 'written_digest'
>;

function sourceOfRow(row: SourceRowColumns): SourceRecord | undefined {
  if (row.source_kind === null || row.source_namespace === null || row.source_name === null) return undefined;
  const source: SourceRecord = { kind: row.source_kind as Kind, namespace: row.source_namespace, name: row.source_name };
  if (row.source_uid !== null) source.uid = row.source_uid;
  if (row.source_generation !== null) source.generation = readInteger(row.source_generation);
  if (row.source_file !== null) source.file = row.source_file;
  return source;
}

function ownedColumns(row: SourceRowColumns): {
  deletionPolicy: DeletionPolicy;
  managed: boolean;
  source?: SourceRecord;
  writtenDigest: string;
} {
  const source = sourceOfRow(row);
  return {
    deletionPolicy: row.deletion_policy === 'Orphan' ? 'Orphan' : 'Delete',
    managed: readBoolean(row.managed),
    ...(source !== undefined ? { source } : {}),
    writtenDigest: row.written_digest,
  };
}

export function workspaceRecordFromRow(row: WorkspaceRow): WorkspaceRecord {
  const maxTemporary = readOptionalInteger(row.max_temporary_access_seconds);
  return {
    workspaceId: row.workspace_id,
    displayName: row.display_name,
    twoFactor: row.two_factor,
    ssoEnforced: readBoolean(row.sso_enforced),
    ...(row.saml_idp_entity_id !== null ? { samlIdpEntityId: row.saml_idp_entity_id } : {}),
    ...(row.saml_sso_url !== null ? { samlSsoUrl: row.saml_sso_url } : {}),
    ...(row.saml_signing_certificate !== null ? { samlSigningCertificate: row.saml_signing_certificate } : {}),
    ipAllowlist: readJson<string[]>(row.ip_allowlist) ?? [],
    idleSessionTimeoutSeconds: readInteger(row.idle_session_timeout_seconds),
    invitationLifetimeSeconds: readInteger(row.invitation_lifetime_seconds),
    ...(maxTemporary !== undefined ? { maxTemporaryAccessSeconds: maxTemporary } : {}),
    adminsMin: readInteger(row.admins_min),
    adminsMax: readInteger(row.admins_max),
    accessReviewIntervalSeconds: readInteger(row.access_review_interval_seconds),
    inactivityThresholdSeconds: readInteger(row.inactivity_threshold_seconds),
    supportAllowed: readBoolean(row.support_allowed),
    supportMaxDurationSeconds: readInteger(row.support_max_duration_seconds),
    supportAllowReadWrite: readBoolean(row.support_allow_read_write),
    ...ownedColumns(row),
  };
}

export function roleRecordFromRow(row: RoleRow, permissions: string[]): RoleRecord {
  return {
    workspaceId: row.workspace_id,
    roleId: row.role_id,
    displayName: row.display_name,
    description: row.description,
    builtin: readBoolean(row.builtin),
    administrative: readBoolean(row.administrative),
    permissions: [...permissions].sort(),
    ...ownedColumns(row),
  };
}

type MemberJoinRow = MemberRow & {
  inv_invitation_id: string | null;
  inv_state: string | null;
  inv_sender: string | null;
  inv_sent_at: Date | string | null;
  inv_expires_at: Date | string | null;
  inv_responded_at: Date | string | null;
  inv_sent_count: number | string | null;
  inv_resend_requested: number | string | null;
};

export function memberRecordFromRow(row: MemberJoinRow): MemberRecord {
  // Called for every member of a full sync: plain assignments, no spreads.
  const record: MemberRecord = {
    memberId: row.member_id,
    workspaceId: row.workspace_id,
    email: row.email,
    emailNormalized: row.email_normalized,
    displayName: row.display_name,
    loginType: row.login_type,
    state: row.state as MemberState,
    deletionPolicy: row.deletion_policy === 'Orphan' ? 'Orphan' : 'Delete',
    managed: readBoolean(row.managed),
    writtenDigest: row.written_digest,
  };
  if (row.phone !== null) record.phone = row.phone;
  if (row.role_id !== null) record.roleId = row.role_id;
  if (row.expires_at !== null) record.expiresAt = readTime(row.expires_at);
  if (row.accepted_at !== null) record.acceptedAt = readTime(row.accepted_at);
  if (row.last_login_at !== null) record.lastLoginAt = readTime(row.last_login_at);
  record.createdAt = readTime(row.created_at);
  const source = sourceOfRow(row);
  if (source !== undefined) record.source = source;
  if (row.inv_invitation_id !== null) {
    const invitation: InvitationRecord = {
      invitationId: row.inv_invitation_id,
      state: (row.inv_state ?? 'Waiting') as InvitationRecord['state'],
      sender: row.inv_sender ?? '',
      sentAt: readTime(row.inv_sent_at),
      expiresAt: readTime(row.inv_expires_at),
      sentCount: readInteger(row.inv_sent_count),
      resendRequested: readInteger(row.inv_resend_requested),
    };
    if (row.inv_responded_at !== null) invitation.respondedAt = readTime(row.inv_responded_at);
    record.invitation = invitation;
  }
  return record;
}

export function grantRecordFromRow(row: SupportGrantRow): SupportGrantRecord {
  const revokedAt = readOptionalTime(row.revoked_at);
  const scopeMemberEmail = readOptionalString(row.scope_member_email);
  const ticket = readOptionalString(row.ticket);
  return {
    grantId: row.grant_id,
    workspaceId: row.workspace_id,
    name: row.name,
    granteeType: row.grantee_type,
    agents: readJson<string[]>(row.agents) ?? [],
    scopeType: row.scope_type,
    ...(scopeMemberEmail !== undefined ? { scopeMemberEmail } : {}),
    accessLevel: row.access_level,
    startsAt: readTime(row.starts_at),
    endsAt: readTime(row.ends_at),
    reason: row.reason,
    ...(ticket !== undefined ? { ticket } : {}),
    state: row.state as SupportGrantState,
    ...(revokedAt !== undefined ? { revokedAt } : {}),
    ...(revokedAt !== undefined ? { revokedCause: row.revoked_cause === 'SupportAccessOff' ? 'SupportAccessOff' : 'Declared' } : {}),
    ...ownedColumns(row),
  };
}

export async function loadPermissions(db: Kysely<Database>): Promise<PermissionRecord[]> {
  const rows = await db.selectFrom('permissions').selectAll().orderBy('permission_id').execute();
  return rows.map((r) => ({
    permissionId: r.permission_id,
    displayName: r.display_name,
    description: r.description,
    access: r.access === 'Read' ? 'Read' : 'Write',
    sensitive: readBoolean(r.sensitive),
    administrative: readBoolean(r.administrative),
    legacy: readBoolean(r.legacy),
  }));
}

/** Members with their invitation's columns (prefixed inv_), as memberRecordFromRow reads them. */
export function memberSelect(db: Kysely<Database>) {
  return db
    .selectFrom('members')
    .leftJoin('invitations', 'invitations.member_id', 'members.member_id')
    .selectAll('members')
    .select([
      'invitations.invitation_id as inv_invitation_id',
      'invitations.state as inv_state',
      'invitations.sender as inv_sender',
      'invitations.sent_at as inv_sent_at',
      'invitations.expires_at as inv_expires_at',
      'invitations.responded_at as inv_responded_at',
      'invitations.sent_count as inv_sent_count',
      'invitations.resend_requested as inv_resend_requested',
    ]);
}

/** Adds `source_namespace = namespace and source_name in refs` (the source index). */
function bySources<Q>(query: Q, table: 'workspaces' | 'roles' | 'members' | 'support_grants', namespace: string, refs: ObjectRef[]): Q {
  interface Filterable {
    where(lhs: unknown, op: string, rhs: unknown): Filterable;
  }
  const names = [...new Set(refs.map((r) => r.name))];
  return (query as unknown as Filterable)
    .where(sql.ref(`${table}.source_namespace`), '=', namespace)
    .where(sql.ref(`${table}.source_name`), 'in', names) as unknown as Q;
}

function groupByNamespace(refs: readonly ObjectRef[]): Map<string, ObjectRef[]> {
  const out = new Map<string, ObjectRef[]>();
  for (const ref of refs) {
    const list = out.get(ref.namespace);
    if (list) list.push(ref);
    else out.set(ref.namespace, [ref]);
  }
  return out;
}

/** Member rows handed on at a time when they stream. */
const MEMBER_CHUNK_ROWS = 1000;

/**
 * Hands each row of a query to `each`. SQLite streams them, so a row is garbage as
 * soon as its record is made instead of every row living at once (a full sync reads
 * every member); PostgreSQL reads them in one go (streaming there needs a cursor).
 */
async function forEachRow<R>(
  query: { stream(chunkSize?: number): AsyncIterableIterator<R>; execute(): Promise<R[]> },
  dialect: StoreDialect | undefined,
  each: (row: R) => void,
): Promise<void> {
  if (dialect !== 'sqlite') {
    for (const row of await query.execute()) each(row);
    return;
  }
  for await (const row of query.stream(MEMBER_CHUNK_ROWS)) each(row);
}

/**
 * Reads the rows a plan needs. `dialect`: the store's, when known (SQLite streams
 * the member rows); without it every row is read at once, which works with both.
 */
export async function loadObserved(db: Kysely<Database>, selection: ObservedSelection, dialect?: StoreDialect): Promise<ObservedStore> {
  const observed: ObservedStore = {
    complete: selection.type === 'all',
    permissions: await loadPermissions(db),
    workspaces: new Map(),
    roles: new Map(),
    members: new Map(),
    grants: new Map(),
    roleUsage: new Map(),
    memberCounts: new Map(),
  };
  const addWorkspaces = (rows: WorkspaceRow[]) => {
    for (const row of rows) observed.workspaces.set(row.workspace_id, workspaceRecordFromRow(row));
  };
  const roleRows: RoleRow[] = [];
  const addMember = (row: MemberJoinRow) => {
    observed.members.set(memberKey(row.workspace_id, row.email_normalized), memberRecordFromRow(row));
  };
  const addMembers = (rows: MemberJoinRow[]) => {
    for (const row of rows) addMember(row);
  };
  const addGrants = (rows: SupportGrantRow[]) => {
    for (const row of rows) observed.grants.set(grantKey(row.workspace_id, row.name), grantRecordFromRow(row));
  };

  if (selection.type === 'all') {
    addWorkspaces(await db.selectFrom('workspaces').selectAll().execute());
    roleRows.push(...(await db.selectFrom('roles').selectAll().execute()));
    await forEachRow(memberSelect(db), dialect, (row) => addMember(row as MemberJoinRow));
    addGrants(await db.selectFrom('support_grants').selectAll().execute());
  } else {
    const sourcesByNamespace = groupByNamespace(selection.sources);
    for (const ids of chunks(selection.workspaceIds)) {
      addWorkspaces(await db.selectFrom('workspaces').selectAll().where('workspace_id', 'in', ids).execute());
    }
    for (const [namespace, refs] of sourcesByNamespace) {
      const kinds = new Set(refs.map((r) => r.kind));
      if (kinds.has('Workspace')) {
        addWorkspaces(await bySources(db.selectFrom('workspaces').selectAll(), 'workspaces', namespace, refs).execute());
      }
      if (kinds.has('Member')) addMembers((await bySources(memberSelect(db), 'members', namespace, refs).execute()) as MemberJoinRow[]);
      if (kinds.has('SupportGrant')) addGrants(await bySources(db.selectFrom('support_grants').selectAll(), 'support_grants', namespace, refs).execute());
    }
    const workspaceIds = new Set([...selection.workspaceIds, ...observed.workspaces.keys()]);
    const emailsByWorkspace = new Map<string, Set<string>>();
    for (const m of selection.members) {
      let set = emailsByWorkspace.get(m.workspaceId);
      if (set === undefined) emailsByWorkspace.set(m.workspaceId, (set = new Set()));
      set.add(m.emailNormalized);
    }
    for (const [workspaceId, emails] of emailsByWorkspace) {
      for (const list of chunks([...emails])) {
        addMembers(
          (await memberSelect(db).where('members.workspace_id', '=', workspaceId).where('members.email_normalized', 'in', list).execute()) as MemberJoinRow[],
        );
      }
    }
    const grantNames = new Map<string, Set<string>>();
    for (const g of selection.grants) {
      let set = grantNames.get(g.workspaceId);
      if (set === undefined) grantNames.set(g.workspaceId, (set = new Set()));
      set.add(g.name);
    }
    for (const [workspaceId, names] of grantNames) {
      addGrants(await db.selectFrom('support_grants').selectAll().where('workspace_id', '=', workspaceId).where('name', 'in', [...names]).execute());
    }
    for (const ids of chunks([...workspaceIds])) {
      roleRows.push(...(await db.selectFrom('roles').selectAll().where('workspace_id', 'in', ids).execute()));
    }
    // Roles owned by in-scope sources in workspaces not read yet.
    for (const [namespace, refs] of sourcesByNamespace) {
      if (!refs.some((r) => r.kind === 'Role')) continue;
      const rows = await bySources(db.selectFrom('roles').selectAll(), 'roles', namespace, refs).execute();
      for (const row of rows) if (!workspaceIds.has(row.workspace_id)) roleRows.push(row);
    }
  }

  // Role permissions, for the roles read.
  const permissionsByRole = new Map<string, string[]>();
  if (roleRows.length > 0) {
    const roleWorkspaces = [...new Set(roleRows.map((r) => r.workspace_id))];
    const rows =
      selection.type === 'all'
        ? await db.selectFrom('role_permissions').selectAll().execute()
        : (await Promise.all(chunks(roleWorkspaces).map((ids) => db.selectFrom('role_permissions').selectAll().where('workspace_id', 'in', ids).execute()))).flat();
    for (const row of rows) {
      const key = roleKey(row.workspace_id, row.role_id);
      const list = permissionsByRole.get(key);
      if (list) list.push(row.permission_id);
      else permissionsByRole.set(key, [row.permission_id]);
    }
  }
  for (const row of roleRows) {
    const key = roleKey(row.workspace_id, row.role_id);
    observed.roles.set(key, roleRecordFromRow(row, permissionsByRole.get(key) ?? []));
  }

  // Counts over the whole store, for removals (role still in use, the mass-removal guard).
  if (selection.type === 'all') {
    for (const m of observed.members.values()) {
      observed.memberCounts.set(m.workspaceId, (observed.memberCounts.get(m.workspaceId) ?? 0) + 1);
      if (m.roleId !== undefined) {
        const key = roleKey(m.workspaceId, m.roleId);
        observed.roleUsage.set(key, (observed.roleUsage.get(key) ?? 0) + 1);
      }
    }
  } else if (selection.counts !== false) {
    await loadRowCounts(db, observed);
  }
  return observed;
}

/**
 * Everything the store held at one instant (a full read, made before a sync's own
 * transaction, e.g. while the files are parsed), and SQLite's data_version then.
 */
export interface ObservedSnapshot {
  observed: ObservedStore;
  version: string;
}

/**
 * SQLite's data_version (moves when another connection commits) with the rows this
 * connection changed so far (total_changes: its own commits leave data_version alone).
 */
async function changeVersion(db: Kysely<Database>): Promise<string> {
  const { rows } = await sql<{ data_version: number }>`PRAGMA data_version`.execute(db);
  const own = await sql<{ n: number }>`select total_changes() as n`.execute(db);
  return `${readInteger(rows[0]?.data_version)}/${readInteger(own.rows[0]?.n)}`;
}

/** A full read of a SQLite store in one read-only transaction, with its change version. */
export async function readObservedSnapshot(store: Pick<Store, 'dialect' | 'read'>): Promise<ObservedSnapshot> {
  if (store.dialect !== 'sqlite') throw new Error('only a SQLite store tells whether it changed since a read (data_version)');
  return store.read(async (trx) => {
    const observed = await loadObserved(trx, { type: 'all' }, store.dialect);
    return { observed, version: await changeVersion(trx) };
  });
}

/** Whether the store, seen from the same connection inside `trx`, still holds what the snapshot read. */
export async function snapshotStillCurrent(trx: Kysely<Database>, snapshot: ObservedSnapshot): Promise<boolean> {
  return (await changeVersion(trx)) === snapshot.version;
}

/** Fills memberCounts and roleUsage for the workspaces (and roles) of a scoped read, from the store. */
export async function loadRowCounts(db: Kysely<Database>, observed: ObservedStore): Promise<void> {
  const ids = [...new Set([...observed.workspaces.keys(), ...[...observed.roles.values()].map((r) => r.workspaceId)])];
  for (const list of chunks(ids)) {
    const rows = await db
      .selectFrom('members')
      .select(['workspace_id', 'role_id', (eb) => eb.fn.countAll().as('n')])
      .where('workspace_id', 'in', list)
      .groupBy(['workspace_id', 'role_id'])
      .execute();
    for (const row of rows) {
      const n = readInteger(row.n);
      observed.memberCounts.set(row.workspace_id, (observed.memberCounts.get(row.workspace_id) ?? 0) + n);
      if (row.role_id !== null) observed.roleUsage.set(roleKey(row.workspace_id, row.role_id), n);
    }
  }
}

/**
 * Counts for status: per workspace, members with access (Invited or Active),
 * administrators among them and support grants in effect; per role, members
 * assigned. `legacyIsAdmin`: whether the legacy permission set (no role) counts.
 */
export async function loadCounts(
  db: Kysely<Database>,
  workspaceIds: readonly string[],
  legacyIsAdmin: boolean,
): Promise<{
  workspaces: Map<string, { members: number; admins: number; activeSupportGrants: number }>;
  roles: Map<string, number>;
}> {
  const workspaces = new Map<string, { members: number; admins: number; activeSupportGrants: number }>();
  const roles = new Map<string, number>();
  for (const id of workspaceIds) workspaces.set(id, { members: 0, admins: 0, activeSupportGrants: 0 });
  for (const ids of chunks([...new Set(workspaceIds)])) {
    const rows = await db
      .selectFrom('members')
      .leftJoin('roles', (join) => join.onRef('roles.workspace_id', '=', 'members.workspace_id').onRef('roles.role_id', '=', 'members.role_id'))
      .select(['members.workspace_id', 'members.role_id', 'members.state', 'roles.administrative', (eb) => eb.fn.countAll().as('n')])
      .where('members.workspace_id', 'in', ids)
      .groupBy(['members.workspace_id', 'members.role_id', 'members.state', 'roles.administrative'])
      .execute();
    for (const row of rows) {
      const n = readInteger(row.n);
      const counts = workspaces.get(row.workspace_id);
      if (row.role_id !== null) roles.set(roleKey(row.workspace_id, row.role_id), (roles.get(roleKey(row.workspace_id, row.role_id)) ?? 0) + n);
      if (counts === undefined || (row.state !== 'Invited' && row.state !== 'Active')) continue;
      counts.members += n;
      const admin = row.role_id === null ? legacyIsAdmin : readBoolean(row.administrative);
      if (admin) counts.admins += n;
    }
    const grants = await db
      .selectFrom('support_grants')
      .select(['workspace_id', (eb) => eb.fn.countAll().as('n')])
      .where('workspace_id', 'in', ids)
      .where('state', '=', 'Active')
      .groupBy('workspace_id')
      .execute();
    for (const row of grants) {
      const counts = workspaces.get(row.workspace_id);
      if (counts) counts.activeSupportGrants = readInteger(row.n);
    }
  }
  return { workspaces, roles };
}

/** A member row the application changed (an invitation accepted, a login), by the object that owns it. */
export interface MemberActivity {
  source: { namespace: string; name: string };
  acceptedAt?: string;
  lastLoginAt?: string;
}

/** The query membersChangedSince runs (its plan is checked in tests). */
export function membersChangedSinceQuery(db: Kysely<Database>, since: Date) {
  const at = since.toISOString();
  return db
    .selectFrom('members')
    .select(['source_namespace', 'source_name', 'accepted_at', 'last_login_at'])
    .where('source_kind', '=', 'Member')
    .where((eb) => eb.or([eb('accepted_at', '>=', at), eb('last_login_at', '>=', at)]));
}

/**
 * Members (owned by a Member object) whose accepted_at or last_login_at is at
 * or after `since`: through the two activity indexes (migration 7), so the
 * rows read are the changed ones, not the table.
 */
export async function membersChangedSince(db: Kysely<Database>, since: Date): Promise<MemberActivity[]> {
  const rows = await membersChangedSinceQuery(db, since).execute();
  const out: MemberActivity[] = [];
  for (const row of rows) {
    if (row.source_namespace === null || row.source_name === null) continue;
    const acceptedAt = readOptionalTime(row.accepted_at);
    const lastLoginAt = readOptionalTime(row.last_login_at);
    out.push({
      source: { namespace: row.source_namespace, name: row.source_name },
      ...(acceptedAt !== undefined ? { acceptedAt } : {}),
      ...(lastLoginAt !== undefined ? { lastLoginAt } : {}),
    });
  }
  return out;
}
