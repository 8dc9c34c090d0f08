// Support grants: vendor access with a start and an end, revoked for good
// by the spec or when the Workspace switches vendor support access off.
import { workspacePolicy } from '../../model/policy.js';
import type { SupportGrant } from '../../model/support-grant.js';
import { grantRecordOf } from '../desired.js';
import {
  grantDigest,
  grantFields,
  grantKey,
  grantStateAt,
  hasEnded,
  refKey,
  type FieldChange,
  type RevocationCause,
  type SupportGrantRecord,
} from '../records.js';
import type { ActionOp, ObjectOutcome } from '../types.js';
import {
  heldAsConflict,
  nextChangeOf,
  notWritten,
  planInWorkspaces,
  refOfObject,
  setOutcome,
  sourceFor,
  updateAction,
  workspaceObject,
  type OwnedRows,
  type PlanContext,
} from './context.js';

const pick = (rows: OwnedRows) => rows.grants[0];

export function planSupportGrants(ctx: PlanContext): void {
  planInWorkspaces(ctx, 'SupportGrant', (grant) => grant.metadata.name, pick, planGrant);
}

function planGrant(ctx: PlanContext, grant: SupportGrant, workspaceId: string): void {
  const ref = refOfObject(grant);
  const key = grantKey(workspaceId, grant.metadata.name);
  const observed = ctx.observed.grants.get(key);
  let scopeMemberEmail: string | undefined;
  if (grant.spec.scope.type === 'Member' && grant.spec.scope.memberRef !== undefined) {
    const target = ctx.declared.get(refKey({ kind: 'Member', namespace: ref.namespace, name: grant.spec.scope.memberRef.name }));
    if (target?.kind === 'Member' && typeof target.spec?.email === 'string') scopeMemberEmail = target.spec.email;
  }
  const desired = grantRecordOf(grant, workspaceId, scopeMemberEmail, observed?.startsAt ?? ctx.at, sourceFor(ctx, grant));
  if (desired === undefined) {
    notWritten(ctx, ref, 'held', '', 'the SupportGrant\'s start or end cannot be read', pick);
    return;
  }
  const conflict = (owner: string) => `support grant "${desired.name}" of workspace ${workspaceId} is already owned by ${owner}: rename it`;
  if (heldAsConflict(ctx, ref, observed, pick, conflict)) return;
  // Revocation is final: once recorded it stays, whatever the spec says later.
  // Switching support access off on the Workspace revokes every grant still
  // in effect or to come, at once.
  const supportOff = !hasEnded(desired.endsAt, ctx.at) && !supportAllowed(ctx, workspaceId, grant);
  const cause: RevocationCause | undefined =
    observed?.revokedAt !== undefined
      ? (observed.revokedCause ?? 'Declared')
      : grant.spec.revoked === true
        ? 'Declared'
        : supportOff
          ? 'SupportAccessOff'
          : undefined;
  const revokedAt = observed?.revokedAt ?? (cause !== undefined ? ctx.at : undefined);
  const withRevocation: SupportGrantRecord = {
    ...desired,
    ...(revokedAt !== undefined ? { revokedAt } : {}),
    ...(revokedAt !== undefined && cause !== undefined ? { revokedCause: cause } : {}),
  };
  const state = grantStateAt(withRevocation, ctx.at);
  const next: SupportGrantRecord = {
    ...withRevocation,
    state,
    ...(observed?.grantId !== undefined ? { grantId: observed.grantId } : {}),
  };
  const common = { object: ref, source: desired.source, workspaceId, key: `${workspaceId}/${desired.name}` } as const;
  if (observed === undefined) {
    if (state === 'Expired' || state === 'Revoked') {
      setOutcome(ctx, { ref, status: 'ended', workspaceId, record: next, inStore: false });
      return;
    }
    ctx.claimed.grants.add(key);
    ctx.actions.push({
      target: 'supportGrant',
      op: 'create',
      ...common,
      reason: state === 'Pending' ? `declared; access starts at ${next.startsAt}` : `declared: support access until ${next.endsAt}`,
      drift: false,
      changes: [],
      record: next,
    });
    setOutcome(ctx, { ref, status: 'changed', workspaceId, record: next, inStore: true, ...grantNextChange(ctx, next) });
    return;
  }
  ctx.claimed.grants.add(key);
  let status: ObjectOutcome['status'] = 'in-sync';
  const update = updateAction(observed, next, grantFields, grantDigest);
  const lifecycleOp: ActionOp | undefined =
    state === observed.state
      ? undefined
      : state === 'Revoked'
        ? 'revoke'
        : state === 'Expired' && observed.state !== 'Revoked'
          ? 'expire'
          : state === 'Active' && observed.state === 'Pending' && update === undefined
            ? 'activate'
            : undefined;
  const stateChange: FieldChange[] = state !== observed.state ? [{ field: 'state', from: observed.state, to: state }] : [];
  if (update !== undefined || (lifecycleOp === undefined && stateChange.length > 0)) {
    ctx.actions.push({
      target: 'supportGrant',
      op: 'update',
      ...common,
      reason: update?.reason ?? `state ${observed.state} does not match the grant's times (${state}); correcting it`,
      drift: update?.drift ?? true,
      changes: [...(update?.changes ?? []), ...(lifecycleOp === undefined ? stateChange : [])],
      record: next,
      before: observed,
    });
    status = 'changed';
  }
  if (lifecycleOp !== undefined) {
    const reason =
      lifecycleOp === 'revoke'
        ? next.revokedCause === 'SupportAccessOff'
          ? `Workspace ${ref.namespace}/${grant.spec.workspaceRef.name} switched vendor support access off (spec.supportAccess.allowed: false): support access revoked`
          : 'spec.revoked is true: support access revoked'
        : lifecycleOp === 'expire'
          ? `support access ended at ${next.endsAt}`
          : `support access started at ${next.startsAt}`;
    const changes = [...stateChange];
    if (lifecycleOp === 'revoke') changes.push({ field: 'revokedAt', from: observed.revokedAt ?? null, to: next.revokedAt ?? null });
    ctx.actions.push({ target: 'supportGrant', op: lifecycleOp, ...common, reason, drift: false, changes, record: next, before: observed });
    status = 'changed';
  }
  setOutcome(ctx, { ref, status, workspaceId, record: next, inStore: true, ...grantNextChange(ctx, next) });
}

/** When a grant changes by itself next: its start, its end. */
function grantNextChange(ctx: PlanContext, grant: SupportGrantRecord): { nextChangeAt?: string } {
  const times: string[] = [];
  if (grant.state === 'Pending' && grant.startsAt > ctx.at) times.push(grant.startsAt);
  if ((grant.state === 'Pending' || grant.state === 'Active') && grant.endsAt > ctx.at) times.push(grant.endsAt);
  return nextChangeOf(times);
}

/** Whether the grant's Workspace lets vendor support in (declared, else as stored). */
function supportAllowed(ctx: PlanContext, workspaceId: string, grant: SupportGrant): boolean {
  const declared = workspaceObject(ctx, refOfObject(grant).namespace, grant.spec.workspaceRef.name);
  if (declared !== undefined && declared.spec?.workspaceId === workspaceId) return workspacePolicy(declared).supportAllowed;
  return ctx.observed.workspaces.get(workspaceId)?.supportAllowed ?? false;
}
