// Status from state: what the engine reports for an object becomes its
// status (phase, conditions, timestamps, counts), and the difference between
// the old status and the new one becomes events. Pure: no I/O, time passed in.
import {
  setCondition,
  type AccessReviewStatus,
  type Condition,
  type ConditionStatus,
  type GatehouseObject,
  type Kind,
} from '../../model/index.js';
import type { ObjectState } from '../../reconcile/types.js';
import type { Violation } from '../../rules/types.js';

export const ConditionTypes = {
  Ready: 'Ready',
  Synced: 'Synced',
  RulesSatisfied: 'RulesSatisfied',
  InvitationAccepted: 'InvitationAccepted',
  Expired: 'Expired',
  Conflict: 'Conflict',
} as const;

/** Reasons the controller itself gives (the engine's and the rules' come through unchanged). */
export const ControllerReasons = {
  RulesPassed: 'RulesPassed',
  RulesPassedWithWarnings: 'RulesPassedWithWarnings',
  StoreError: 'StoreError',
  CleanupFailed: 'CleanupFailed',
  Terminating: 'Terminating',
  NotExpired: 'NotExpired',
  InvitationPending: 'InvitationPending',
  InvitationAccepted: 'InvitationAccepted',
  NoConflict: 'NoConflict',
  Pending: 'Pending',
  /** Event: a signed checkpoint of the audit log's head (docs/security.md). */
  AuditCheckpoint: 'AuditCheckpoint',
  /** Event: the periodic access review found something to change. */
  AccessReviewFindings: 'AccessReviewFindings',
  /** Event: the periodic access review found nothing to change. */
  AccessReviewPassed: 'AccessReviewPassed',
} as const;

/** Rules whose violation means two objects claim one store row. */
export const CONFLICT_RULES: ReadonlySet<string> = new Set(['DuplicateEmail', 'DuplicateWorkspaceId']);

const PHASES: Record<Kind, readonly string[]> = {
  Workspace: ['Ready', 'Failed', 'Terminating'],
  Role: ['Ready', 'Failed', 'Terminating'],
  Member: ['Pending', 'Invited', 'Active', 'Expired', 'Failed'],
  SupportGrant: ['Pending', 'Active', 'Expired', 'Revoked', 'Failed'],
};

export type Status = Record<string, unknown> & { conditions?: Condition[]; phase?: string; observedGeneration?: number };

export interface StatusInput {
  object: GatehouseObject;
  /** The engine's view; absent when the engine failed. */
  state?: ObjectState;
  /** Violations of this object. */
  violations: readonly Violation[];
  at: Date;
  /** Set when the engine could not do its part (store down, cleanup failed). */
  failure?: { reason: string; message: string };
  /** The object is being deleted. */
  terminating?: boolean;
  /** A Workspace's last access review and when the next is due. */
  accessReview?: { summary: AccessReviewStatus; nextReviewAt: string };
  /** A SupportGrant's evidence digest, for when it has ended (kept once recorded). */
  evidenceDigest?: string;
}

/** Whether a Workspace's access review is due at `at`: never run, or run `intervalMs` ago or more. */
export function accessReviewDue(last: AccessReviewStatus | undefined, intervalMs: number, at: Date): boolean {
  return last === undefined || Date.parse(last.lastReviewedAt) + intervalMs <= at.getTime();
}

/** A SupportGrant phase after which nothing more happens under it: its evidence is recorded then. */
export function grantEnded(phase: string | undefined): boolean {
  return phase === 'Expired' || phase === 'Revoked';
}

/** The Event for an access review that just ran (a new lastReviewedAt); none otherwise. */
export function accessReviewEvent(workspaceId: string, before: Status | undefined, after: Status): EventSpec | undefined {
  const last = after.accessReview as AccessReviewStatus | undefined;
  if (last === undefined || last.lastReviewedAt === (before?.accessReview as AccessReviewStatus | undefined)?.lastReviewedAt) return undefined;
  const next = typeof after.nextReviewAt === 'string' ? ` The next review is due at ${after.nextReviewAt}.` : '';
  if (last.findings === 0) {
    return { type: 'Normal', reason: ControllerReasons.AccessReviewPassed, note: `The access review found nothing to change.${next}` };
  }
  const parts = (
    [
      ['inactive member', last.inactiveMembers],
      ['invitation not accepted', last.invitationsNotAccepted],
      ['ended access still declared', last.expiredStillDeclared],
      ['admin limit exceeded', last.tooManyAdmins],
      ['unused privileges', last.unusedPrivileges],
    ] as const
  )
    .filter(([, n]) => n > 0)
    .map(([what, n]) => `${n} ${what}`);
  return {
    type: 'Warning',
    reason: ControllerReasons.AccessReviewFindings,
    note: `The access review found ${last.findings} finding${last.findings === 1 ? '' : 's'} (${parts.join(', ')}); run gatehouse review --workspace ${workspaceId} for the detail and fix them in Git.${next}`,
  };
}

const MAX_MESSAGE = 32_000;

function clip(message: string): string {
  return message.length > MAX_MESSAGE ? `${message.slice(0, MAX_MESSAGE - 1)}…` : message;
}

function describeViolations(violations: readonly Violation[]): string {
  return clip(violations.map((v) => `${v.ruleId}${v.field ? ` (${v.field})` : ''}: ${v.message}`).join('; '));
}

/** The phase the kind's status allows that is closest to the engine's. */
export function phaseFor(kind: Kind, statePhase: string | undefined, ready: boolean): string {
  const allowed = PHASES[kind];
  if (statePhase !== undefined && allowed.includes(statePhase)) return statePhase;
  if (kind === 'Workspace' || kind === 'Role') return ready ? 'Ready' : 'Failed';
  if (statePhase === 'Ready') return 'Active';
  if (statePhase === 'Revoked') return 'Expired';
  return 'Failed';
}

interface ConditionValue {
  type: string;
  status: ConditionStatus;
  reason: string;
  message: string;
}

/** Computes the status an object should have. Conditions keep their lastTransitionTime when their status holds. */
export function desiredStatus(input: StatusInput): Status {
  const { object, state, violations, at, failure, terminating, accessReview, evidenceDigest } = input;
  const current = (object.status ?? {}) as Status;
  const generation = object.metadata.generation;
  const errors = violations.filter((v) => v.severity === 'error');
  const warnings = violations.filter((v) => v.severity === 'warning');
  const conflictViolations = errors.filter((v) => CONFLICT_RULES.has(v.ruleId));
  const values: ConditionValue[] = [];

  const ready = state !== undefined && state.ready && failure === undefined && errors.length === 0 && !terminating;
  let phase: string;
  if (terminating && (object.kind === 'Workspace' || object.kind === 'Role')) phase = 'Terminating';
  else if (state !== undefined) phase = phaseFor(object.kind, state.phase, state.ready);
  else phase = typeof current.phase === 'string' ? current.phase : 'Pending';
  if (!PHASES[object.kind].includes(phase)) phase = phaseFor(object.kind, phase, false);

  let readyReason: string;
  let readyMessage: string;
  if (failure !== undefined) {
    readyReason = failure.reason;
    readyMessage = failure.message;
  } else if (terminating) {
    readyReason = ControllerReasons.Terminating;
    readyMessage = 'The object is being deleted; its rows in the identity store are being cleaned up.';
  } else if (errors.length > 0) {
    readyReason = (errors[0] as Violation).ruleId;
    readyMessage = `Not written to the identity store: ${describeViolations(errors)}`;
  } else if (state !== undefined) {
    readyReason = state.reason;
    readyMessage = state.message;
  } else {
    readyReason = ControllerReasons.Pending;
    readyMessage = 'Not reconciled yet.';
  }
  values.push({ type: ConditionTypes.Ready, status: ready ? 'True' : 'False', reason: readyReason, message: clip(readyMessage) });

  if (failure !== undefined) {
    values.push({ type: ConditionTypes.Synced, status: 'False', reason: failure.reason, message: clip(failure.message) });
  } else if (state !== undefined) {
    const synced = state.inStore && errors.length === 0 && state.reason !== 'Conflict' && state.reason !== 'DependencyNotReady';
    values.push({
      type: ConditionTypes.Synced,
      status: synced ? 'True' : 'False',
      reason: synced ? 'Synced' : errors.length > 0 ? (errors[0] as Violation).ruleId : state.reason,
      message: clip(synced ? 'The identity store holds the object as declared.' : errors.length > 0 ? describeViolations(errors) : state.message),
    });
  }

  if (errors.length > 0) {
    values.push({ type: ConditionTypes.RulesSatisfied, status: 'False', reason: (errors[0] as Violation).ruleId, message: describeViolations([...errors, ...warnings]) });
  } else if (state !== undefined || violations.length > 0) {
    values.push({
      type: ConditionTypes.RulesSatisfied,
      status: 'True',
      reason: warnings.length > 0 ? ControllerReasons.RulesPassedWithWarnings : ControllerReasons.RulesPassed,
      message: warnings.length > 0 ? describeViolations(warnings) : 'Every rule passes.',
    });
  }

  const inConflict = conflictViolations.length > 0 || state?.reason === 'Conflict';
  const hadConflict = (current.conditions ?? []).some((c) => c.type === ConditionTypes.Conflict);
  if (inConflict) {
    values.push({
      type: ConditionTypes.Conflict,
      status: 'True',
      reason: conflictViolations[0]?.ruleId ?? 'Conflict',
      message: clip(conflictViolations.length > 0 ? describeViolations(conflictViolations) : (state?.message ?? 'Another object owns this store row.')),
    });
  } else if (hadConflict) {
    values.push({ type: ConditionTypes.Conflict, status: 'False', reason: ControllerReasons.NoConflict, message: 'No other object claims this store row.' });
  }

  const status: Status = {};
  if (object.kind === 'Member' && state !== undefined) {
    const invitation = state.invitation;
    if (invitation !== undefined) {
      const accepted = invitation.state === 'Completed';
      values.push({
        type: ConditionTypes.InvitationAccepted,
        status: accepted ? 'True' : 'False',
        reason: accepted ? ControllerReasons.InvitationAccepted : invitation.state === 'Expired' ? 'InvitationExpired' : ControllerReasons.InvitationPending,
        message: accepted
          ? `The invitation was accepted${invitation.respondedAt ? ` at ${invitation.respondedAt}` : ''}.`
          : invitation.state === 'Expired'
            ? 'The invitation expired unaccepted; increase spec.invitation.resend to send a new one.'
            : `The invitation is waiting to be accepted${invitation.expiresAt ? ` until ${invitation.expiresAt}` : ''}.`,
      });
    }
  }
  if ((object.kind === 'Member' || object.kind === 'SupportGrant') && state !== undefined) {
    const expired = phase === 'Expired';
    values.push({
      type: ConditionTypes.Expired,
      status: expired ? 'True' : 'False',
      reason: expired ? state.reason : ControllerReasons.NotExpired,
      message: expired ? state.message : state.expiresAt || state.endsAt ? `Access ends at ${state.expiresAt ?? state.endsAt}.` : 'Access has no end time.',
    });
  }

  let conditions = [...(current.conditions ?? [])].filter((c) => values.some((v) => v.type === c.type));
  for (const value of values) {
    conditions = setCondition(conditions, { ...value, ...(generation !== undefined ? { observedGeneration: generation } : {}) }, at);
  }
  // Ready first, then in the order computed: stable for people and for comparisons.
  const order = new Map(values.map((v, i) => [v.type, i]));
  conditions.sort((a, b) => (order.get(a.type) ?? 99) - (order.get(b.type) ?? 99));

  if (generation !== undefined) status.observedGeneration = generation;
  status.phase = phase;
  status.conditions = conditions;
  const copy = (key: string, value: unknown) => {
    if (value !== undefined) status[key] = value;
  };
  if (state !== undefined) {
    switch (object.kind) {
      case 'Member':
        copy('role', state.role);
        copy('invitation', state.invitation === undefined ? undefined : stripUndefined(state.invitation));
        copy('expiresAt', state.expiresAt);
        copy('lastLoginAt', state.lastLoginAt);
        break;
      case 'SupportGrant':
        copy('startsAt', state.startsAt);
        copy('endsAt', state.endsAt);
        copy('revokedAt', state.revokedAt);
        // Recorded once: later entries (a refused request under the ended grant) do not change it.
        if (grantEnded(phase)) copy('evidenceDigest', typeof current.evidenceDigest === 'string' ? current.evidenceDigest : evidenceDigest);
        break;
      case 'Workspace':
        copy('memberCount', state.memberCount);
        copy('adminCount', state.adminCount);
        copy('activeSupportGrants', state.activeSupportGrants);
        copy('nextReviewAt', accessReview?.nextReviewAt);
        copy('accessReview', accessReview?.summary);
        break;
      case 'Role':
        copy('memberCount', state.memberCount);
        break;
    }
  } else {
    // The engine gave nothing new: keep what status said.
    for (const [key, value] of Object.entries(current)) {
      if (!(key in status) && key !== 'conditions') status[key] = value;
    }
  }
  return status;
}

function stripUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) return Array.isArray(b) && a.length === b.length && a.every((x, i) => deepEqual(x, b[i]));
  if (typeof a === 'object' && a !== null) {
    if (typeof b !== 'object' || b === null || Array.isArray(b)) return false;
    const ak = Object.keys(a).filter((k) => (a as Record<string, unknown>)[k] !== undefined);
    const bk = Object.keys(b).filter((k) => (b as Record<string, unknown>)[k] !== undefined);
    return ak.length === bk.length && ak.every((k) => deepEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
  }
  return false;
}

/** A merge patch that turns `current` into `next`: removed keys become null. */
export function statusMergePatch(current: Status | undefined, next: Status): Record<string, unknown> {
  const patch: Record<string, unknown> = { ...next };
  for (const key of Object.keys(current ?? {})) if (!(key in next)) patch[key] = null;
  return patch;
}

export interface EventSpec {
  type: 'Normal' | 'Warning';
  reason: string;
  note: string;
  /** Routine (an object's first status): recorded in a summary per workspace, not per object. */
  summarize?: boolean;
}

const PHASE_EVENTS: Record<string, { type: 'Normal' | 'Warning'; reason: string }> = {
  Invited: { type: 'Normal', reason: 'Invited' },
  Active: { type: 'Normal', reason: 'Activated' },
  Expired: { type: 'Normal', reason: 'Expired' },
  Revoked: { type: 'Normal', reason: 'Revoked' },
};

function condition(status: Status | undefined, type: string): Condition | undefined {
  return status?.conditions?.find((c) => c.type === type);
}

function sameCondition(a: Condition | undefined, b: Condition | undefined): boolean {
  return a?.status === b?.status && a?.reason === b?.reason && a?.message === b?.message;
}

/** Events for what changed between two statuses: transitions and new violations, not repeats. */
export function transitionEvents(kind: Kind, before: Status | undefined, after: Status, violations: readonly Violation[]): EventSpec[] {
  const events: EventSpec[] = [];
  const ready = condition(after, ConditionTypes.Ready);
  if (after.phase !== before?.phase) {
    // An object's first status is routine: no one acts on 10,000 "Invited" events after a cold start.
    // A SupportGrant's is not: someone outside the team got access, and an auditor reads each one.
    const first = before?.phase === undefined && kind !== 'SupportGrant' ? { summarize: true } : {};
    const mapped = after.phase !== undefined ? PHASE_EVENTS[after.phase] : undefined;
    if (mapped !== undefined && (kind === 'Member' || kind === 'SupportGrant')) {
      events.push({ ...mapped, note: ready?.message ?? `${kind} is ${after.phase}.`, ...first });
    } else if (after.phase === 'Ready') {
      events.push({ type: 'Normal', reason: 'Synced', note: ready?.message ?? `${kind} is in the identity store.`, ...first });
    }
  }
  const conflictBefore = condition(before, ConditionTypes.Conflict);
  const conflictAfter = condition(after, ConditionTypes.Conflict);
  if (conflictAfter?.status === 'True' && !sameCondition(conflictBefore, conflictAfter)) {
    events.push({ type: 'Warning', reason: 'Conflict', note: conflictAfter.message });
  }
  const rulesBefore = condition(before, ConditionTypes.RulesSatisfied);
  const rulesAfter = condition(after, ConditionTypes.RulesSatisfied);
  if (!sameCondition(rulesBefore, rulesAfter)) {
    for (const v of violations) {
      events.push({ type: 'Warning', reason: v.ruleId, note: clip(`${v.field ? `${v.field}: ` : ''}${v.message}`) });
    }
  }
  const syncedBefore = condition(before, ConditionTypes.Synced);
  const syncedAfter = condition(after, ConditionTypes.Synced);
  if (
    syncedAfter?.status === 'False' &&
    !sameCondition(syncedBefore, syncedAfter) &&
    !violations.some((v) => v.ruleId === syncedAfter.reason) &&
    syncedAfter.reason !== 'Conflict'
  ) {
    events.push({ type: 'Warning', reason: syncedAfter.reason, note: syncedAfter.message });
  }
  return events;
}
