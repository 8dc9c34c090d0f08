// Per-object state for status: phase, reason and message a person can act on,
// the invitation and expiry times, and the counts a Workspace or Role shows.
// Derived from the store's rows and the instant, so it is right even when the
// engine has not run since something expired.
import type { Violation } from '../rules/types.js';
import {
  grantStateAt,
  memberStateAt,
  roleKey,
  type MemberRecord,
  type RoleRecord,
  type SupportGrantRecord,
  type WorkspaceRecord,
} from './records.js';
import { StateReasons } from './reasons.js';
import type { ObjectOutcome, ObjectState } from './types.js';

export interface StoreCounts {
  /** Per workspace id. */
  workspaces: Map<string, { members: number; admins: number; activeSupportGrants: number }>;
  /** Per roleKey: members assigned, whatever their state. */
  roles: Map<string, number>;
}

export function emptyCounts(): StoreCounts {
  return { workspaces: new Map(), roles: new Map() };
}

function firstError(violations: readonly Violation[]): Violation | undefined {
  return violations.find((v) => v.severity === 'error');
}

/** The state of one object from what the plan does with it (or what the store holds). */
export function objectStateOf(outcome: ObjectOutcome, violations: readonly Violation[], at: string, counts: StoreCounts): ObjectState {
  const base = {
    ref: outcome.ref,
    inStore: outcome.inStore,
    violations: [...violations],
    ...(outcome.workspaceId !== undefined ? { workspaceId: outcome.workspaceId } : {}),
  };
  switch (outcome.status) {
    case 'held': {
      const error = firstError(violations);
      const errors = violations.filter((v) => v.severity === 'error').length;
      return {
        ...base,
        phase: 'Failed',
        reason: error?.ruleId ?? 'RulesViolated',
        message:
          error !== undefined
            ? `${error.field ? `${error.field}: ` : ''}${error.message}${errors > 1 ? ` (and ${errors - 1} more error${errors > 2 ? 's' : ''})` : ''}`
            : (outcome.message ?? 'not written: the object breaks a rule'),
        ready: false,
      };
    }
    case 'conflict':
      return { ...base, phase: 'Failed', reason: StateReasons.Conflict, message: outcome.message ?? '', ready: false };
    case 'blocked':
      return {
        ...base,
        phase: outcome.ref.kind === 'Member' || outcome.ref.kind === 'SupportGrant' ? 'Pending' : 'Failed',
        reason: outcome.reason ?? StateReasons.DependencyNotReady,
        message: outcome.message ?? '',
        ready: false,
      };
    case 'removed':
      return { ...base, phase: 'Terminating', reason: outcome.reason ?? StateReasons.Removed, message: outcome.message ?? '', ready: false };
    case 'removal-blocked':
      return { ...base, phase: 'Terminating', reason: outcome.reason ?? StateReasons.RoleInUse, message: outcome.message ?? '', ready: false };
    case 'ended':
    case 'changed':
    case 'in-sync':
      break;
  }
  const record = outcome.record;
  switch (outcome.ref.kind) {
    case 'Workspace': {
      const w = record as WorkspaceRecord | undefined;
      const c = w ? counts.workspaces.get(w.workspaceId) : undefined;
      return {
        ...base,
        phase: 'Ready',
        reason: StateReasons.Synced,
        message: w ? `workspace ${w.workspaceId} is in the identity store as declared` : 'in the identity store',
        ready: true,
        memberCount: c?.members ?? 0,
        adminCount: c?.admins ?? 0,
        activeSupportGrants: c?.activeSupportGrants ?? 0,
      };
    }
    case 'Role': {
      const r = record as RoleRecord | undefined;
      return {
        ...base,
        phase: 'Ready',
        reason: StateReasons.Synced,
        message: r ? `role ${r.roleId} of workspace ${r.workspaceId} is in the identity store as declared` : 'in the identity store',
        ready: true,
        memberCount: r ? (counts.roles.get(roleKey(r.workspaceId, r.roleId)) ?? 0) : 0,
      };
    }
    case 'Member':
      return { ...base, ...memberState(record as MemberRecord, at, outcome.status === 'ended') };
    case 'SupportGrant':
      return { ...base, ...grantState(record as SupportGrantRecord, at, outcome.status === 'ended') };
  }
}

function memberState(
  m: MemberRecord,
  at: string,
  endedBeforeWritten: boolean,
): Omit<ObjectState, 'ref' | 'inStore' | 'violations' | 'workspaceId'> {
  const times = {
    ...(m.roleId !== undefined ? { role: m.roleId } : {}),
    ...(m.expiresAt !== undefined ? { expiresAt: m.expiresAt } : {}),
    ...(m.lastLoginAt !== undefined ? { lastLoginAt: m.lastLoginAt } : {}),
    ...(m.invitation !== undefined
      ? {
          invitation: {
            state: m.invitation.state === 'Waiting' && m.invitation.expiresAt <= at && m.acceptedAt === undefined ? ('Expired' as const) : m.invitation.state,
            sentAt: m.invitation.sentAt,
            expiresAt: m.invitation.expiresAt,
            ...(m.invitation.respondedAt !== undefined ? { respondedAt: m.invitation.respondedAt } : {}),
            sentCount: m.invitation.sentCount,
          },
        }
      : {}),
  };
  if (endedBeforeWritten) {
    return {
      phase: 'Expired',
      reason: StateReasons.Expired,
      message: `temporary access ended at ${m.expiresAt} before the member was ever added; nothing is written`,
      ready: false,
      ...times,
    };
  }
  const { state, why } = memberStateAt(m, at);
  switch (state) {
    case 'Active':
      return {
        phase: 'Active',
        reason: StateReasons.Activated,
        message: `${m.email} accepted the invitation${m.acceptedAt ? ` at ${m.acceptedAt}` : ''}${m.expiresAt ? `; access ends at ${m.expiresAt}` : ''}`,
        ready: true,
        ...times,
      };
    case 'Invited':
      return {
        phase: 'Invited',
        reason: StateReasons.Invited,
        message: `invitation sent to ${m.email}${m.invitation ? ` at ${m.invitation.sentAt}; it expires at ${m.invitation.expiresAt} unless accepted` : ''}`,
        ready: true,
        ...times,
      };
    case 'Expired':
      return why === 'AccessExpired'
        ? { phase: 'Expired', reason: StateReasons.Expired, message: `temporary access ended at ${m.expiresAt}`, ready: false, ...times }
        : {
            phase: 'Expired',
            reason: StateReasons.InvitationExpired,
            message: `the invitation expired at ${m.invitation?.expiresAt} before ${m.email} accepted it; increase spec.invitation.resend to send a new one`,
            ready: false,
            ...times,
          };
  }
}

function grantState(
  g: SupportGrantRecord,
  at: string,
  endedBeforeWritten: boolean,
): Omit<ObjectState, 'ref' | 'inStore' | 'violations' | 'workspaceId'> {
  const times = { startsAt: g.startsAt, endsAt: g.endsAt, expiresAt: g.endsAt, ...(g.revokedAt !== undefined ? { revokedAt: g.revokedAt } : {}) };
  const state = grantStateAt(g, at);
  const suffix = endedBeforeWritten ? ' before it was ever written; nothing is written' : '';
  switch (state) {
    case 'Revoked':
      return g.revokedCause === 'SupportAccessOff'
        ? {
            phase: 'Revoked',
            reason: StateReasons.SupportAccessOff,
            message: `support access revoked${g.revokedAt ? ` at ${g.revokedAt}` : ''} because the Workspace switched vendor support access off (spec.supportAccess.allowed: false); a revoked grant stays revoked: turn support access on and create a new SupportGrant if support needs in again${suffix}`,
            ready: false,
            ...times,
          }
        : { phase: 'Revoked', reason: StateReasons.Revoked, message: `support access revoked${g.revokedAt ? ` at ${g.revokedAt}` : ''}${suffix}`, ready: false, ...times };
    case 'Expired':
      return { phase: 'Expired', reason: StateReasons.Expired, message: `support access ended at ${g.endsAt}${suffix}`, ready: false, ...times };
    case 'Pending':
      return { phase: 'Pending', reason: StateReasons.Scheduled, message: `support access starts at ${g.startsAt} and ends at ${g.endsAt}`, ready: true, ...times };
    case 'Active':
      return {
        phase: 'Active',
        reason: StateReasons.Granted,
        message: `${g.accessLevel} support access for ${g.granteeType === 'Agents' ? g.agents.join(', ') : 'the support team'} until ${g.endsAt}`,
        ready: true,
        ...times,
      };
  }
}
