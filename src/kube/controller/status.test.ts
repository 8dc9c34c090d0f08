import { describe, expect, it } from 'vitest';
import type { GatehouseObject } from '../../model/index.js';
import type { ObjectState } from '../../reconcile/types.js';
import type { Violation } from '../../rules/types.js';
import { accessReviewDue, accessReviewEvent, desiredStatus, phaseFor, statusMergePatch, transitionEvents, type Status } from './status.js';

const T0 = new Date('2026-05-01T10:00:00.000Z');
const T1 = new Date('2026-05-01T11:00:00.000Z');

function member(status?: Status, generation = 1): GatehouseObject {
  return {
    apiVersion: 'gatehouse.dev/v1alpha1',
    kind: 'Member',
    metadata: { name: 'alice', namespace: 'team-a', generation },
    spec: { workspaceRef: { name: 'acme' }, email: 'alice@example.com', displayName: 'Alice' },
    ...(status ? { status } : {}),
  } as GatehouseObject;
}

function state(overrides: Partial<ObjectState> = {}): ObjectState {
  return {
    ref: { kind: 'Member', namespace: 'team-a', name: 'alice' },
    phase: 'Invited',
    reason: 'Invited',
    message: 'invitation sent',
    ready: true,
    inStore: true,
    violations: [],
    role: 'viewer',
    invitation: { state: 'Waiting', sentAt: T0.toISOString(), expiresAt: T1.toISOString(), sentCount: 1 },
    ...overrides,
  };
}

function violation(ruleId: string, severity: 'error' | 'warning' = 'error'): Violation {
  return { ruleId, severity, object: { kind: 'Member', namespace: 'team-a', name: 'alice' }, field: 'spec.email', message: `${ruleId} happened` };
}

const conditionsOf = (s: Status) => (s.conditions ?? []).map((c) => `${c.type}=${c.status}/${c.reason}`);

describe('desiredStatus', () => {
  it.each([
    ['invited member', state(), [], 'Invited', ['Ready=True/Invited', 'Synced=True/Synced', 'RulesSatisfied=True/RulesPassed', 'InvitationAccepted=False/InvitationPending', 'Expired=False/NotExpired']],
    ['active member', state({ phase: 'Active', reason: 'Activated', invitation: { state: 'Completed', respondedAt: T0.toISOString() } }), [], 'Active', ['Ready=True/Activated', 'Synced=True/Synced', 'RulesSatisfied=True/RulesPassed', 'InvitationAccepted=True/InvitationAccepted', 'Expired=False/NotExpired']],
    ['expired member', state({ phase: 'Expired', reason: 'Expired', ready: false }), [], 'Expired', ['Ready=False/Expired', 'Synced=True/Synced', 'RulesSatisfied=True/RulesPassed', 'InvitationAccepted=False/InvitationPending', 'Expired=True/Expired']],
    ['rule error', state({ phase: 'Failed', reason: 'RoleNotFound', ready: false, inStore: false }), [violation('RoleNotFound')], 'Failed', ['Ready=False/RoleNotFound', 'Synced=False/RoleNotFound', 'RulesSatisfied=False/RoleNotFound', 'InvitationAccepted=False/InvitationPending', 'Expired=False/NotExpired']],
    ['warning only', state(), [violation('NoRoleAssigned', 'warning')], 'Invited', ['Ready=True/Invited', 'Synced=True/Synced', 'RulesSatisfied=True/RulesPassedWithWarnings', 'InvitationAccepted=False/InvitationPending', 'Expired=False/NotExpired']],
    ['duplicate email', state({ phase: 'Failed', ready: false }), [violation('DuplicateEmail')], 'Failed', ['Ready=False/DuplicateEmail', 'Synced=False/DuplicateEmail', 'RulesSatisfied=False/DuplicateEmail', 'Conflict=True/DuplicateEmail', 'InvitationAccepted=False/InvitationPending', 'Expired=False/NotExpired']],
  ] as const)('%s', (_name, objectState, violations, phase, conditions) => {
    const status = desiredStatus({ object: member(), state: objectState, violations: [...violations], at: T0 });
    expect(status.phase).toBe(phase);
    expect(status.observedGeneration).toBe(1);
    expect(conditionsOf(status)).toEqual(conditions);
  });

  it('keeps lastTransitionTime while a condition holds and moves it when it flips', () => {
    const first = desiredStatus({ object: member(), state: state(), violations: [], at: T0 });
    const same = desiredStatus({ object: member(first), state: state({ message: 'reworded' }), violations: [], at: T1 });
    expect(same.conditions?.find((c) => c.type === 'Ready')?.lastTransitionTime).toBe(T0.toISOString());
    const flipped = desiredStatus({ object: member(first), state: state({ phase: 'Expired', ready: false, reason: 'Expired' }), violations: [], at: T1 });
    expect(flipped.conditions?.find((c) => c.type === 'Ready')?.lastTransitionTime).toBe(T1.toISOString());
  });

  it('reports a failure of the engine without losing what status said', () => {
    const before = desiredStatus({ object: member(), state: state(), violations: [], at: T0 });
    const failed = desiredStatus({ object: member(before), violations: [], at: T1, failure: { reason: 'StoreError', message: 'down' } });
    expect(failed.phase).toBe('Invited');
    expect(failed.role).toBe('viewer');
    expect(conditionsOf(failed).slice(0, 2)).toEqual(['Ready=False/StoreError', 'Synced=False/StoreError']);
  });

  it('turns Conflict to False once resolved, rather than dropping it', () => {
    const conflicted = desiredStatus({ object: member(), state: state({ ready: false }), violations: [violation('DuplicateEmail')], at: T0 });
    const resolved = desiredStatus({ object: member(conflicted), state: state(), violations: [], at: T1 });
    expect(resolved.conditions?.find((c) => c.type === 'Conflict')).toMatchObject({ status: 'False', reason: 'NoConflict' });
  });

  it.each([
    ['Member', 'Revoked', false, 'Expired'],
    ['Member', 'Ready', true, 'Active'],
    ['Workspace', 'Pending', false, 'Failed'],
    ['Workspace', 'Ready', true, 'Ready'],
    ['SupportGrant', 'Revoked', false, 'Revoked'],
  ] as const)('maps %s phase %s (ready %s) to %s', (kind, phase, ready, expected) => {
    expect(phaseFor(kind, phase, ready)).toBe(expected);
  });
});

describe('statusMergePatch', () => {
  it('nulls keys that are gone so a merge patch removes them', () => {
    expect(statusMergePatch({ phase: 'Active', lastLoginAt: 'x' }, { phase: 'Expired' })).toEqual({ phase: 'Expired', lastLoginAt: null });
  });
});

describe('transitionEvents', () => {
  const invited = desiredStatus({ object: member(), state: state(), violations: [], at: T0 });
  it.each([
    ['first invitation (summarized per workspace)', undefined, invited, [], ['Normal/Invited/summary']],
    ['no change', invited, invited, [], []],
    ['activation', invited, desiredStatus({ object: member(invited), state: state({ phase: 'Active', reason: 'Activated' }), violations: [], at: T1 }), [], ['Normal/Activated']],
    ['expiry', invited, desiredStatus({ object: member(invited), state: state({ phase: 'Expired', reason: 'Expired', ready: false }), violations: [], at: T1 }), [], ['Normal/Expired']],
    [
      'conflict',
      invited,
      desiredStatus({ object: member(invited), state: state({ ready: false }), violations: [violation('DuplicateEmail')], at: T1 }),
      [violation('DuplicateEmail')],
      ['Warning/Conflict', 'Warning/DuplicateEmail'],
    ],
  ] as const)('%s', (_name, before, after, violations, expected) => {
    expect(transitionEvents('Member', before, after, [...violations]).map((e) => `${e.type}/${e.reason}${e.summarize ? '/summary' : ''}`)).toEqual(expected);
  });
});

const DAY = 86_400_000;
const summary = (over: Partial<Record<string, number>> = {}, lastReviewedAt = T0.toISOString()) => ({
  lastReviewedAt,
  findings: 0,
  inactiveMembers: 0,
  invitationsNotAccepted: 0,
  expiredStillDeclared: 0,
  tooManyAdmins: 0,
  unusedPrivileges: 0,
  supportGrants: 0,
  ...over,
});

describe('accessReviewDue', () => {
  it.each([
    { name: 'never run', last: undefined, at: T0, want: true },
    { name: 'run just now', last: summary(), at: T0, want: false },
    { name: 'one ms before the interval ends', last: summary(), at: new Date(T0.getTime() + 14 * DAY - 1), want: false },
    { name: 'the interval ended', last: summary(), at: new Date(T0.getTime() + 14 * DAY), want: true },
    { name: 'long overdue', last: summary(), at: new Date(T0.getTime() + 40 * DAY), want: true },
  ])('$name: $want', ({ last, at, want }) => {
    expect(accessReviewDue(last, 14 * DAY, at)).toBe(want);
  });
});

describe('accessReviewEvent', () => {
  const next = { nextReviewAt: '2026-05-15T10:00:00.000Z' };
  it.each([
    { name: 'no review in status', before: undefined, after: {}, want: undefined },
    { name: 'the same review as before', before: { accessReview: summary() }, after: { accessReview: summary(), ...next }, want: undefined },
    { name: 'a first review with nothing found', before: undefined, after: { accessReview: summary(), ...next }, want: { type: 'Normal', reason: 'AccessReviewPassed' } },
    {
      name: 'a new review with findings',
      before: { accessReview: summary() },
      after: { accessReview: summary({ findings: 3, inactiveMembers: 2, tooManyAdmins: 1 }, T1.toISOString()), ...next },
      want: { type: 'Warning', reason: 'AccessReviewFindings' },
    },
  ])('$name', ({ before, after, want }) => {
    const event = accessReviewEvent('acme', before as Status | undefined, after as Status);
    if (want === undefined) expect(event).toBeUndefined();
    else expect(event).toMatchObject(want);
  });

  it('says what was found and what to run', () => {
    const event = accessReviewEvent('acme', undefined, { accessReview: summary({ findings: 3, inactiveMembers: 2, tooManyAdmins: 1 }), ...next });
    expect(event?.note).toBe(
      'The access review found 3 findings (2 inactive member, 1 admin limit exceeded); run gatehouse review --workspace acme for the detail and fix them in Git. The next review is due at 2026-05-15T10:00:00.000Z.',
    );
  });
});

describe('desiredStatus: review summary and evidence digest', () => {
  const workspace = (status?: Status): GatehouseObject =>
    ({ apiVersion: 'gatehouse.dev/v1alpha1', kind: 'Workspace', metadata: { name: 'acme', namespace: 'team-a', generation: 1 }, spec: { workspaceId: 'acme', displayName: 'Acme' }, ...(status ? { status } : {}) }) as GatehouseObject;
  const grant = (status?: Status): GatehouseObject =>
    ({ apiVersion: 'gatehouse.dev/v1alpha1', kind: 'SupportGrant', metadata: { name: 't1', namespace: 'team-a', generation: 1 }, spec: {}, ...(status ? { status } : {}) }) as GatehouseObject;
  const wsState = state({ ref: { kind: 'Workspace', namespace: 'team-a', name: 'acme' }, phase: 'Ready', reason: 'Synced', memberCount: 1 });
  const grantState = (phase: ObjectState['phase']) => state({ ref: { kind: 'SupportGrant', namespace: 'team-a', name: 't1' }, phase, reason: phase, invitation: undefined, role: undefined });
  const A = 'a'.repeat(64);
  const B = 'b'.repeat(64);

  it.each([
    { name: 'a workspace with a review', object: workspace(), st: wsState, input: { accessReview: { summary: summary(), nextReviewAt: '2026-05-15T10:00:00.000Z' } }, want: { accessReview: summary(), nextReviewAt: '2026-05-15T10:00:00.000Z' } },
    { name: 'a workspace without one drops the keys', object: workspace({ accessReview: summary(), nextReviewAt: 'x' }), st: wsState, input: {}, want: { accessReview: undefined, nextReviewAt: undefined } },
    { name: 'an active grant records no digest', object: grant(), st: grantState('Active'), input: { evidenceDigest: A }, want: { evidenceDigest: undefined } },
    { name: 'a revoked grant records it', object: grant(), st: grantState('Revoked'), input: { evidenceDigest: A }, want: { evidenceDigest: A } },
    { name: 'an expired grant records it', object: grant(), st: grantState('Expired'), input: { evidenceDigest: A }, want: { evidenceDigest: A } },
    { name: 'once recorded it stays', object: grant({ phase: 'Revoked', evidenceDigest: A }), st: grantState('Revoked'), input: { evidenceDigest: B }, want: { evidenceDigest: A } },
  ])('$name', ({ object, st, input, want }) => {
    const status = desiredStatus({ object, state: st, violations: [], at: T1, ...input });
    for (const [key, value] of Object.entries(want)) expect(status[key]).toEqual(value);
  });
});
