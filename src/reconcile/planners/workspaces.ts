// Workspaces, each with the product profile's default roles (created with the
// workspace and restored if edited; their actions run after all workspaces).
import type { ObjectRef } from '../../model/kinds.js';
import type { Workspace } from '../../model/workspace.js';
import { builtinRoleRecords, workspaceRecordOf } from '../desired.js';
import { roleDigest, roleFields, roleKey, workspaceDigest, workspaceFields, type WorkspaceRecord } from '../records.js';
import type { PlanAction } from '../types.js';
import {
  compareStrings,
  declaredOfKind,
  heldAsConflict,
  refOfObject,
  setOutcome,
  sourceFor,
  updateAction,
  type PlanContext,
} from './context.js';

export function planWorkspaces(ctx: PlanContext): void {
  const workspaces = declaredOfKind(ctx, 'Workspace').sort((a, b) => compareStrings(a.spec.workspaceId, b.spec.workspaceId));
  const builtinRoleActions: PlanAction[] = [];
  for (const workspace of workspaces) planWorkspace(ctx, workspace, builtinRoleActions);
  ctx.actions.push(...builtinRoleActions);
}

function planWorkspace(ctx: PlanContext, workspace: Workspace, builtinRoleActions: PlanAction[]): void {
  const ref = refOfObject(workspace);
  const desired = workspaceRecordOf(workspace, sourceFor(ctx, workspace));
  const observed = ctx.observed.workspaces.get(desired.workspaceId);
  const conflict = (owner: string) =>
    `workspace id "${desired.workspaceId}" is already owned in the identity store by ${owner}; you might have two Workspaces with the same spec.workspaceId: ${owner} owns it`;
  if (heldAsConflict(ctx, ref, observed, (rows) => rows.workspaces[0], conflict)) return;
  ctx.claimed.workspaces.add(desired.workspaceId);
  ctx.availableWorkspaces.set(`${ref.namespace}/${workspace.metadata.name}`, desired.workspaceId);
  let changed = false;
  if (observed === undefined) {
    ctx.actions.push({
      target: 'workspace',
      op: 'create',
      object: ref,
      source: desired.source,
      workspaceId: desired.workspaceId,
      key: desired.workspaceId,
      reason: 'declared and not in the identity store',
      drift: false,
      changes: [],
      record: desired,
    });
    changed = true;
  } else {
    const update = updateAction(observed, desired, workspaceFields, workspaceDigest);
    if (update !== undefined) {
      ctx.actions.push({
        target: 'workspace',
        op: 'update',
        object: ref,
        source: desired.source,
        workspaceId: desired.workspaceId,
        key: desired.workspaceId,
        ...update,
        record: desired,
        before: observed,
      });
      changed = true;
    }
  }
  changed = planBuiltinRoles(ctx, desired, ref, observed === undefined, builtinRoleActions) || changed;
  setOutcome(ctx, {
    ref,
    status: changed ? 'changed' : 'in-sync',
    workspaceId: desired.workspaceId,
    record: desired,
    inStore: true,
  });
}

/** The profile's default roles in a workspace, created with it and restored if edited. */
function planBuiltinRoles(ctx: PlanContext, workspace: WorkspaceRecord, ref: ObjectRef, creatingWorkspace: boolean, into: PlanAction[]): boolean {
  let changed = false;
  for (const desired of builtinRoleRecords(workspace, ctx.profile)) {
    const key = roleKey(desired.workspaceId, desired.roleId);
    ctx.claimed.roles.add(key);
    const observed = ctx.observed.roles.get(key);
    if (observed === undefined) {
      ctx.createdRoles.add(key);
      into.push({
        target: 'role',
        op: 'create',
        object: ref,
        ...(desired.source ? { source: desired.source } : {}),
        workspaceId: desired.workspaceId,
        key: `${desired.workspaceId}/${desired.roleId}`,
        reason: creatingWorkspace
          ? `default role of the product profile, created with the workspace`
          : `default role of the product profile missing from the store (deleted outside Gatehouse)`,
        drift: !creatingWorkspace,
        changes: [],
        record: desired,
      });
      changed = true;
      continue;
    }
    const update = updateAction(observed, desired, roleFields, roleDigest);
    if (update !== undefined) {
      into.push({
        target: 'role',
        op: 'update',
        object: ref,
        ...(desired.source ? { source: desired.source } : {}),
        workspaceId: desired.workspaceId,
        key: `${desired.workspaceId}/${desired.roleId}`,
        ...update,
        record: desired,
        before: observed,
      });
      changed = true;
    }
  }
  return changed;
}
