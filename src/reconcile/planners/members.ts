// Members: invitations sent, resent and expired; temporary access ending;
// what the application recorded (acceptance, logins) carried over.
import type { Member } from '../../model/member.js';
import { workspacePolicy } from '../../model/policy.js';
import { iso, memberRecordOf, resendRequestedOf } from '../desired.js';
import {
  hasEnded,
  memberDigest,
  memberFields,
  memberKey,
  memberStateAt,
  normalizeEmail,
  roleKey,
  type FieldChange,
  type InvitationRecord,
  type MemberRecord,
} from '../records.js';
import { StateReasons } from '../reasons.js';
import type { ActionOp, ObjectOutcome } from '../types.js';
import {
  heldAsConflict,
  nextChangeOf,
  notWritten,
  planInWorkspaces,
  refOfObject,
  releaseRole,
  setOutcome,
  sourceFor,
  updateAction,
  workspaceObject,
  type OwnedRows,
  type PlanContext,
} from './context.js';

const addMs = (at: string, ms: number) => iso(new Date(at).getTime() + ms);

/** An invitation sent at `at` lasts the workspace's lifetime, but never beyond the access it invites to. */
function invitationExpiry(at: string, lifetimeMs: number, accessEndsAt: string | undefined): string {
  const lifetimeEnd = addMs(at, lifetimeMs);
  return accessEndsAt !== undefined && accessEndsAt < lifetimeEnd ? accessEndsAt : lifetimeEnd;
}

function roleAvailable(ctx: PlanContext, workspaceId: string, roleId: string): boolean {
  const key = roleKey(workspaceId, roleId);
  return ctx.createdRoles.has(key) || ctx.observed.roles.has(key);
}

const pick = (rows: OwnedRows) => rows.members[0];

export function planMembers(ctx: PlanContext): void {
  planInWorkspaces(ctx, 'Member', (member) => normalizeEmail(member.spec.email), pick, planMember);
}

function planMember(ctx: PlanContext, member: Member, workspaceId: string): void {
  const ref = refOfObject(member);
  if (member.spec.role !== undefined && !roleAvailable(ctx, workspaceId, member.spec.role)) {
    notWritten(
      ctx,
      ref,
      'blocked',
      StateReasons.DependencyNotReady,
      `role "${member.spec.role}" of workspace ${workspaceId} is not in the identity store (the Role has rule errors or a conflict); fix it first`,
      pick,
    );
    return;
  }
  const desired = memberRecordOf(member, workspaceId, sourceFor(ctx, member));
  const key = memberKey(workspaceId, desired.emailNormalized);
  const observed = ctx.observed.members.get(key);
  const conflict = (owner: string) =>
    `email ${desired.email} in workspace ${workspaceId} is already owned by ${owner}; you might have two Members with the same email: ${owner} owns it`;
  if (heldAsConflict(ctx, ref, observed, pick, conflict)) return;
  const lifetimeMs = invitationLifetimeMs(ctx, workspaceId, member);
  const resendRequested = resendRequestedOf(member);
  const common = {
    object: ref,
    source: desired.source,
    workspaceId,
    key: `${workspaceId}/${desired.emailNormalized}`,
  } as const;

  if (observed === undefined) {
    if (hasEnded(desired.expiresAt, ctx.at)) {
      // Access that ended before it was ever given is not written; nothing keeps changing.
      setOutcome(ctx, { ref, status: 'ended', workspaceId, record: { ...desired, state: 'Expired' }, inStore: false });
      return;
    }
    ctx.claimed.members.add(key);
    const invitation: InvitationRecord = {
      state: 'Waiting',
      sender: ctx.options.actor,
      sentAt: ctx.at,
      expiresAt: invitationExpiry(ctx.at, lifetimeMs, desired.expiresAt),
      sentCount: 1,
      resendRequested,
    };
    const record: MemberRecord = { ...desired, state: 'Invited', invitation };
    ctx.actions.push({
      target: 'member',
      op: 'create',
      ...common,
      reason: `declared and not in the identity store: invite ${desired.email}`,
      drift: false,
      changes: [],
      record,
      invitation,
    });
    setOutcome(ctx, { ref, status: 'changed', workspaceId, record, inStore: true, ...memberNextChange(ctx, record) });
    return;
  }

  ctx.claimed.members.add(key);
  let status: ObjectOutcome['status'] = 'in-sync';
  // App-owned facts and the invitation carry over; declared columns come from the spec.
  let next: MemberRecord = { ...desired, state: observed.state };
  if (observed.memberId !== undefined) next.memberId = observed.memberId;
  if (observed.acceptedAt !== undefined) next.acceptedAt = observed.acceptedAt;
  if (observed.lastLoginAt !== undefined) next.lastLoginAt = observed.lastLoginAt;
  if (observed.invitation !== undefined) next.invitation = observed.invitation;
  if (observed.roleId !== undefined && observed.roleId !== next.roleId) {
    releaseRole(ctx, workspaceId, observed.roleId);
  }

  const update = updateAction(observed, next, memberFields, memberDigest);
  // The state that follows from the times and the app's facts, before any lifecycle action.
  const accessEnded = hasEnded(next.expiresAt, ctx.at);
  const accepted = next.acceptedAt !== undefined || next.invitation?.state === 'Completed';
  let lifecycle: { op: ActionOp; reason: string; invitation?: InvitationRecord } | undefined;
  const invitation = next.invitation;
  if (!accessEnded && !accepted && invitation === undefined) {
    lifecycle = {
      op: 'issue-invitation',
      reason: `no invitation in the store for ${next.email}: sending one`,
      invitation: { state: 'Waiting', sender: ctx.options.actor, sentAt: ctx.at, expiresAt: invitationExpiry(ctx.at, lifetimeMs, desired.expiresAt), sentCount: 1, resendRequested },
    };
  } else if (!accessEnded && !accepted && invitation !== undefined && resendRequested > invitation.resendRequested) {
    lifecycle = {
      op: 'resend-invitation',
      reason: `spec.invitation.resend went from ${invitation.resendRequested} to ${resendRequested}: sending the invitation again`,
      invitation: {
        ...invitation,
        state: 'Waiting',
        sender: ctx.options.actor,
        sentAt: ctx.at,
        expiresAt: invitationExpiry(ctx.at, lifetimeMs, desired.expiresAt),
        sentCount: invitation.sentCount + 1,
        resendRequested,
      },
    };
  } else if (invitation !== undefined && invitation.state === 'Waiting' && (accessEnded || hasEnded(invitation.expiresAt, ctx.at))) {
    lifecycle = accessEnded
      ? { op: 'expire', reason: `temporary access ended at ${next.expiresAt}`, invitation: { ...invitation, state: 'Expired' } }
      : {
          op: 'expire-invitation',
          reason: `the invitation was not accepted before it expired at ${invitation.expiresAt}`,
          invitation: { ...invitation, state: 'Expired' },
        };
  }
  if (lifecycle?.invitation !== undefined) next = { ...next, invitation: lifecycle.invitation };
  // Access made to end sooner: a waiting invitation ends with it, never after.
  let shortenedInvitation: InvitationRecord | undefined;
  if (
    lifecycle === undefined &&
    update !== undefined &&
    next.invitation?.state === 'Waiting' &&
    next.expiresAt !== undefined &&
    next.invitation.expiresAt > next.expiresAt
  ) {
    shortenedInvitation = { ...next.invitation, expiresAt: next.expiresAt };
    next = { ...next, invitation: shortenedInvitation };
  }
  const state = memberStateAt(next, ctx.at).state;
  if (lifecycle === undefined && state === 'Expired' && observed.state !== 'Expired' && accessEnded) {
    lifecycle = { op: 'expire', reason: `temporary access ended at ${next.expiresAt}` };
  }
  const stateChange: FieldChange[] = state !== observed.state ? [{ field: 'state', from: observed.state, to: state }] : [];
  if (state !== next.state) next = { ...next, state };

  if (update !== undefined || (lifecycle === undefined && stateChange.length > 0)) {
    const changes = [...(update?.changes ?? []), ...(lifecycle === undefined ? stateChange : [])];
    const reason =
      update?.reason ??
      (accepted && state === 'Active'
        ? 'the application recorded the acceptance: the member is active'
        : `state ${observed.state} does not match the member's times (${state}); correcting it`);
    ctx.actions.push({
      target: 'member',
      op: 'update',
      ...common,
      reason,
      drift: update?.drift ?? (stateChange.length > 0 && !accepted),
      changes:
        shortenedInvitation !== undefined
          ? [...changes, { field: 'invitation.expiresAt', from: observed.invitation?.expiresAt ?? null, to: shortenedInvitation.expiresAt }]
          : changes,
      record: next,
      before: observed,
      ...(shortenedInvitation !== undefined ? { invitation: shortenedInvitation } : {}),
    });
    status = 'changed';
  }
  if (lifecycle !== undefined) {
    const changes: FieldChange[] = [...stateChange];
    if (lifecycle.invitation !== undefined && invitation !== undefined) {
      changes.push({ field: 'invitation.state', from: invitation.state, to: lifecycle.invitation.state });
      if (lifecycle.invitation.sentAt !== invitation.sentAt) changes.push({ field: 'invitation.sentAt', from: invitation.sentAt, to: lifecycle.invitation.sentAt });
      if (lifecycle.invitation.expiresAt !== invitation.expiresAt) changes.push({ field: 'invitation.expiresAt', from: invitation.expiresAt, to: lifecycle.invitation.expiresAt });
    }
    ctx.actions.push({
      target: 'member',
      op: lifecycle.op,
      ...common,
      reason: lifecycle.reason,
      drift: false,
      changes,
      record: next,
      before: observed,
      ...(lifecycle.invitation !== undefined ? { invitation: lifecycle.invitation } : {}),
    });
    status = 'changed';
  }
  setOutcome(ctx, { ref, status, workspaceId, record: next, inStore: true, ...memberNextChange(ctx, next) });
}

// Per plan: a workspace's invitation lifetime, worked out once for all its members.
const invitationLifetimes = new WeakMap<PlanContext, Map<string, number>>();

/** The workspace's invitation lifetime (declared, else as stored), in ms. */
function invitationLifetimeMs(ctx: PlanContext, workspaceId: string, object: Member): number {
  let lifetimes = invitationLifetimes.get(ctx);
  if (lifetimes === undefined) invitationLifetimes.set(ctx, (lifetimes = new Map()));
  let ms = lifetimes.get(workspaceId);
  if (ms === undefined) {
    const declared = workspaceObject(ctx, refOfObject(object).namespace, object.spec.workspaceRef.name);
    ms =
      declared !== undefined && declared.spec?.workspaceId === workspaceId
        ? workspacePolicy(declared).invitationLifetimeMs
        : (ctx.observed.workspaces.get(workspaceId)?.invitationLifetimeSeconds ?? 168 * 3600) * 1000;
    lifetimes.set(workspaceId, ms);
  }
  return ms;
}

/** When a member changes by itself next: its temporary access ending, its waiting invitation expiring. */
function memberNextChange(ctx: PlanContext, member: MemberRecord): { nextChangeAt?: string } {
  const times: string[] = [];
  if (member.state !== 'Expired' && member.expiresAt !== undefined && member.expiresAt > ctx.at) times.push(member.expiresAt);
  const invitation = member.invitation;
  if (invitation?.state === 'Waiting' && invitation.expiresAt > ctx.at && member.state === 'Invited') times.push(invitation.expiresAt);
  return nextChangeOf(times);
}
