// Custom Roles, once their Workspace's row is usable.
import type { Role } from '../../model/role.js';
import { roleRecordOf } from '../desired.js';
import { roleDigest, roleFields, roleKey } from '../records.js';
import type { ObjectOutcome } from '../types.js';
import {
  heldAsConflict,
  planInWorkspaces,
  refOfObject,
  setOutcome,
  sourceFor,
  updateAction,
  type OwnedRows,
  type PlanContext,
} from './context.js';

const pick = (rows: OwnedRows) => rows.roles[0];

export function planRoles(ctx: PlanContext): void {
  planInWorkspaces(ctx, 'Role', (role) => role.metadata.name, pick, planRole);
}

function planRole(ctx: PlanContext, role: Role, workspaceId: string): void {
  const ref = refOfObject(role);
  const desired = roleRecordOf(role, workspaceId, ctx.profile, sourceFor(ctx, role));
  const key = roleKey(workspaceId, desired.roleId);
  const observed = ctx.observed.roles.get(key);
  const conflict = (owner: string) => `role "${desired.roleId}" of workspace ${workspaceId} is already owned in the identity store by ${owner}; rename the Role`;
  if (heldAsConflict(ctx, ref, observed, pick, conflict, observed?.builtin === true)) return;
  ctx.claimed.roles.add(key);
  let status: ObjectOutcome['status'] = 'in-sync';
  const common = { object: ref, source: desired.source, workspaceId, key: `${workspaceId}/${desired.roleId}` } as const;
  if (observed === undefined) {
    ctx.createdRoles.add(key);
    ctx.actions.push({ target: 'role', op: 'create', ...common, reason: 'declared and not in the identity store', drift: false, changes: [], record: desired });
    status = 'changed';
  } else {
    const update = updateAction(observed, desired, roleFields, roleDigest);
    if (update !== undefined) {
      ctx.actions.push({ target: 'role', op: 'update', ...common, ...update, record: desired, before: observed });
      status = 'changed';
    }
  }
  setOutcome(ctx, { ref, status, workspaceId, record: desired, inStore: true });
}
