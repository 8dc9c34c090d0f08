// Read-only listings of the store for people (gatehouse get): filtered by
// workspace and searched by name or email (F4).
import { sql, type Expression, type Kysely, type SqlBool } from 'kysely';
import type { MemberRecord, RoleRecord, SupportGrantRecord, WorkspaceRecord } from '../reconcile/records.js';
import { readBoolean } from './convert.js';
import { grantRecordFromRow, loadCounts, memberRecordFromRow, memberSelect, roleRecordFromRow, workspaceRecordFromRow } from './observed.js';
import type { Database } from './schema.js';

export interface ListFilter {
  workspaceId?: string;
  /** Case-insensitive substring of a name, id or email. */
  search?: string;
}

/** A LIKE pattern matching `text` anywhere, with LIKE's wildcards taken literally. */
function containsPattern(text: string): string {
  return `%${text.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

function matches(column: string, text: string): Expression<SqlBool> {
  return sql<SqlBool>`lower(${sql.ref(column)}) like ${containsPattern(text)} escape '\\'`;
}

export async function legacyMembersAreAdmins(db: Kysely<Database>): Promise<boolean> {
  const rows = await db.selectFrom('permissions').select(['legacy', 'administrative']).execute();
  return rows.some((r) => readBoolean(r.legacy) && readBoolean(r.administrative));
}

export interface WorkspaceListing extends WorkspaceRecord {
  memberCount: number;
  adminCount: number;
  activeSupportGrants: number;
}

export async function listWorkspaces(db: Kysely<Database>, filter: ListFilter = {}): Promise<WorkspaceListing[]> {
  let q = db.selectFrom('workspaces').selectAll().orderBy('workspace_id');
  if (filter.workspaceId !== undefined) q = q.where('workspace_id', '=', filter.workspaceId);
  if (filter.search !== undefined) {
    const search = filter.search;
    q = q.where((eb) => eb.or([matches('workspace_id', search), matches('display_name', search)]));
  }
  const rows = (await q.execute()).map(workspaceRecordFromRow);
  const counts = await loadCounts(
    db,
    rows.map((r) => r.workspaceId),
    await legacyMembersAreAdmins(db),
  );
  return rows.map((r) => {
    const c = counts.workspaces.get(r.workspaceId);
    return { ...r, memberCount: c?.members ?? 0, adminCount: c?.admins ?? 0, activeSupportGrants: c?.activeSupportGrants ?? 0 };
  });
}

export interface RoleListing extends RoleRecord {
  memberCount: number;
}

export async function listRoles(db: Kysely<Database>, filter: ListFilter = {}): Promise<RoleListing[]> {
  let q = db.selectFrom('roles').selectAll().orderBy('workspace_id').orderBy('builtin', 'desc').orderBy('role_id');
  if (filter.workspaceId !== undefined) q = q.where('workspace_id', '=', filter.workspaceId);
  if (filter.search !== undefined) {
    const search = filter.search;
    q = q.where((eb) => eb.or([matches('role_id', search), matches('display_name', search)]));
  }
  const rows = await q.execute();
  const workspaceIds = [...new Set(rows.map((r) => r.workspace_id))];
  const permissions = new Map<string, string[]>();
  for (let i = 0; i < workspaceIds.length; i += 500) {
    const perms = await db.selectFrom('role_permissions').selectAll().where('workspace_id', 'in', workspaceIds.slice(i, i + 500)).execute();
    for (const p of perms) {
      const key = `${p.workspace_id}\u0000${p.role_id}`;
      permissions.set(key, [...(permissions.get(key) ?? []), p.permission_id]);
    }
  }
  const counts = await loadCounts(db, workspaceIds, false);
  return rows.map((row) => {
    const key = `${row.workspace_id}\u0000${row.role_id}`;
    return { ...roleRecordFromRow(row, permissions.get(key) ?? []), memberCount: counts.roles.get(key) ?? 0 };
  });
}

export async function listMembers(db: Kysely<Database>, filter: ListFilter = {}): Promise<MemberRecord[]> {
  let q = memberSelect(db)
    .orderBy('members.workspace_id')
    .orderBy('members.email_normalized');
  if (filter.workspaceId !== undefined) q = q.where('members.workspace_id', '=', filter.workspaceId);
  if (filter.search !== undefined) {
    const search = filter.search;
    q = q.where((eb) => eb.or([matches('members.email_normalized', search), matches('members.display_name', search)]));
  }
  return (await q.execute()).map((row) => memberRecordFromRow(row as Parameters<typeof memberRecordFromRow>[0]));
}

export async function listSupportGrants(db: Kysely<Database>, filter: ListFilter = {}): Promise<SupportGrantRecord[]> {
  let q = db.selectFrom('support_grants').selectAll().orderBy('workspace_id').orderBy('name');
  if (filter.workspaceId !== undefined) q = q.where('workspace_id', '=', filter.workspaceId);
  if (filter.search !== undefined) {
    const search = filter.search;
    q = q.where((eb) => eb.or([matches('name', search), matches('reason', search), matches('ticket', search)]));
  }
  return (await q.execute()).map(grantRecordFromRow);
}
