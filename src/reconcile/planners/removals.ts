// Removals: rows whose owning object is gone from the declaration (or now
// declares another row) are deleted, or forgotten under deletionPolicy Orphan;
// a role still assigned stays (RoleInUse); too large a share of a workspace's
// members at once is reported as a mass removal.
import type { ObjectRef } from '../../model/kinds.js';
import { grantKey, memberKey, refKey, roleKey, sourceRef, type OwnedRecord, type SourceRecord } from '../records.js';
import { StateReasons } from '../reasons.js';
import type { PlanAction } from '../types.js';
import {
  compareStrings,
  describeSource,
  isDeclared,
  isInScope,
  releaseRole,
  setOutcome,
  sortedBy,
  type PlanContext,
} from './context.js';

/** Observed rows whose key no declared object claimed (the candidates for removal). */
function unclaimed<R>(rows: Map<string, R>, claimed: ReadonlySet<string>): R[] {
  const out: R[] = [];
  for (const [key, row] of rows) if (!claimed.has(key)) out.push(row);
  return out;
}

/** Whether a row's owner is gone from the declaration (or moved to another row), so the row goes. */
function removable(ctx: PlanContext, record: OwnedRecord): boolean {
  if (!record.managed || record.source === undefined) return false;
  return isInScope(ctx, refKey(sourceRef(record.source)));
}

/**
 * Rows whose owner is in scope but no longer declares them: grants, members,
 * roles, then workspaces (a workspace's deletion takes its rows with it).
 */
export function planRemovals(ctx: PlanContext): void {
  const guard = ctx.removalGuard;
  const deletedWorkspaces = new Set<string>();
  const removedMembers = new Map<string, number>();
  const grantActions: PlanAction[] = [];
  const memberActions: PlanAction[] = [];
  const roleActions: PlanAction[] = [];
  const workspaceActions: PlanAction[] = [];

  const workspaceRows = [...ctx.observed.workspaces.values()]
    .filter((r) => !ctx.claimed.workspaces.has(r.workspaceId) && removable(ctx, r))
    .sort((a, b) => compareStrings(a.workspaceId, b.workspaceId));
  for (const row of workspaceRows) {
    const source = row.source as SourceRecord;
    const del = row.deletionPolicy !== 'Orphan';
    if (del) deletedWorkspaces.add(row.workspaceId);
    const cascade = {
      members: ctx.observed.memberCounts.get(row.workspaceId) ?? 0,
      roles: [...ctx.observed.roles.values()].filter((r) => r.workspaceId === row.workspaceId).length,
      supportGrants: [...ctx.observed.grants.values()].filter((r) => r.workspaceId === row.workspaceId).length,
    };
    if (del) removedMembers.set(row.workspaceId, cascade.members);
    workspaceActions.push({
      target: 'workspace',
      op: del ? 'delete' : 'forget',
      object: sourceRef(source),
      source,
      workspaceId: row.workspaceId,
      key: row.workspaceId,
      reason: del
        ? `${describeSource(source)} ${goneWords(ctx, source)}; deleting the workspace with its ${cascade.members} members, ${cascade.roles} roles and ${cascade.supportGrants} support grants`
        : `${describeSource(source)} ${goneWords(ctx, source)}; deletionPolicy Orphan leaves its rows unmanaged`,
      drift: false,
      changes: [],
      record: row,
      before: row,
      cascade,
    });
    removedOutcome(ctx, sourceRef(source), del, row.workspaceId);
  }

  const keep = (workspaceId: string) => !deletedWorkspaces.has(workspaceId);

  for (const row of sortedBy(unclaimed(ctx.observed.grants, ctx.claimed.grants), (r) => grantKey(r.workspaceId, r.name))) {
    if (!removable(ctx, row) || !keep(row.workspaceId)) continue;
    const source = row.source as SourceRecord;
    const del = row.deletionPolicy !== 'Orphan';
    grantActions.push({
      target: 'supportGrant',
      op: del ? 'delete' : 'forget',
      object: sourceRef(source),
      source,
      workspaceId: row.workspaceId,
      key: `${row.workspaceId}/${row.name}`,
      reason: `${describeSource(source)} ${goneWords(ctx, source)}; ${del ? 'support access removed' : 'deletionPolicy Orphan leaves the row unmanaged'}`,
      drift: false,
      changes: [],
      record: row,
      before: row,
    });
    removedOutcome(ctx, sourceRef(source), del, row.workspaceId);
  }

  for (const row of sortedBy(unclaimed(ctx.observed.members, ctx.claimed.members), (r) => memberKey(r.workspaceId, r.emailNormalized))) {
    if (!removable(ctx, row) || !keep(row.workspaceId)) continue;
    const source = row.source as SourceRecord;
    const del = row.deletionPolicy !== 'Orphan';
    if (del) {
      removedMembers.set(row.workspaceId, (removedMembers.get(row.workspaceId) ?? 0) + 1);
      if (row.roleId !== undefined) releaseRole(ctx, row.workspaceId, row.roleId);
    }
    memberActions.push({
      target: 'member',
      op: del ? 'delete' : 'forget',
      object: sourceRef(source),
      source,
      workspaceId: row.workspaceId,
      key: `${row.workspaceId}/${row.emailNormalized}`,
      reason: `${describeSource(source)} ${goneWords(ctx, source)}; ${del ? `${row.email} loses access` : 'deletionPolicy Orphan leaves the row unmanaged'}`,
      drift: false,
      changes: [],
      record: row,
      before: row,
    });
    removedOutcome(ctx, sourceRef(source), del, row.workspaceId);
  }

  for (const row of sortedBy(unclaimed(ctx.observed.roles, ctx.claimed.roles), (r) => roleKey(r.workspaceId, r.roleId))) {
    const key = roleKey(row.workspaceId, row.roleId);
    if (!removable(ctx, row) || !keep(row.workspaceId)) continue;
    const source = row.source as SourceRecord;
    const del = row.deletionPolicy !== 'Orphan';
    const stillAssigned = (ctx.observed.roleUsage.get(key) ?? 0) - (ctx.releasedRoleAssignments.get(key) ?? 0);
    if (del && stillAssigned > 0) {
      // A default role the profile dropped stays while members have it; its Workspace's state is its own.
      if (row.builtin) continue;
      setOutcome(ctx, {
        ref: sourceRef(source),
        status: 'removal-blocked',
        workspaceId: row.workspaceId,
        reason: StateReasons.RoleInUse,
        message: `role "${row.roleId}" of workspace ${row.workspaceId} is not removed: ${stillAssigned} member(s) in the identity store still have it; give them another role first`,
        record: row,
        inStore: true,
      });
      continue;
    }
    roleActions.push({
      target: 'role',
      op: del ? 'delete' : 'forget',
      object: sourceRef(source),
      source,
      workspaceId: row.workspaceId,
      key: `${row.workspaceId}/${row.roleId}`,
      reason: row.builtin
        ? `default role no longer in the product profile`
        : `${describeSource(source)} ${goneWords(ctx, source)}${del ? '' : '; deletionPolicy Orphan leaves the row unmanaged'}`,
      drift: false,
      changes: [],
      record: row,
      before: row,
    });
    if (!row.builtin) removedOutcome(ctx, sourceRef(source), del, row.workspaceId);
  }

  ctx.actions.push(...grantActions, ...memberActions, ...roleActions, ...workspaceActions);

  if (guard !== false) {
    for (const [workspaceId, removing] of [...removedMembers].sort((a, b) => compareStrings(a[0], b[0]))) {
      const total = ctx.observed.memberCounts.get(workspaceId) ?? 0;
      if (total > 0 && removing / total > guard.maxShare) ctx.massRemovals.push({ workspaceId, removing, total, maxShare: guard.maxShare });
    }
  }
}

function goneWords(ctx: PlanContext, source: SourceRecord): string {
  return isDeclared(ctx, refKey(sourceRef(source))) ? 'now declares another row' : 'is no longer declared';
}

function removedOutcome(ctx: PlanContext, ref: ObjectRef, deleted: boolean, workspaceId: string): void {
  const key = refKey(ref);
  // An object still declared (its key moved) keeps its own outcome.
  if (isDeclared(ctx, key) || ctx.outcomes.has(key)) return;
  setOutcome(ctx, {
    ref,
    status: 'removed',
    workspaceId,
    reason: deleted ? StateReasons.Removed : StateReasons.Orphaned,
    message: deleted ? 'removed from the identity store' : 'left in the identity store, no longer managed (deletionPolicy Orphan)',
    inStore: !deleted,
  });
}

/** In-scope refs that are neither declared nor in the store: nothing to do, but report them. */
export function reportAbsentRefs(ctx: PlanContext): void {
  if (ctx.inScope === undefined) return;
  for (const key of ctx.inScope) {
    if (ctx.outcomes.has(key) || isDeclared(ctx, key)) continue;
    const [kind, namespace, ...rest] = key.split('/');
    setOutcome(ctx, {
      ref: { kind: kind as ObjectRef['kind'], namespace: namespace ?? 'default', name: rest.join('/') },
      status: 'removed',
      reason: StateReasons.Removed,
      message: 'not in the identity store',
      inStore: false,
    });
  }
}
