import { describe, expect, it } from 'vitest';
import { reviewAccess, reviewCounts, reviewWorkspace, suggestSmallerRole, type ReviewMemberInput, type ReviewWorkspaceInput } from './review.js';

const DAY = 86_400_000;
const AT = Date.parse('2026-06-29T00:00:00.000Z');
const role = (permissions: string[], over: Partial<{ builtin: boolean; administrative: boolean }> = {}) => ({
  displayName: 'r',
  builtin: over.builtin ?? true,
  administrative: over.administrative ?? false,
  permissions: new Set(permissions),
});

function aWorkspace(members: ReviewMemberInput[], over: Partial<ReviewWorkspaceInput> = {}): ReviewWorkspaceInput {
  return {
    workspaceId: 'acme',
    displayName: 'Acme',
    adminsMax: 1,
    accessReviewIntervalMs: 14 * DAY,
    inactivityThresholdMs: 30 * DAY,
    roles: new Map([
      ['admin', role(['view-dashboard', 'create-segment', 'update-team-members'], { administrative: true })],
      ['editor', role(['view-dashboard', 'create-segment'])],
      ['viewer', role(['view-dashboard'])],
      ['segment-builder', role(['create-segment'], { builtin: false })],
    ]),
    legacyPermissions: new Set(['view-dashboard']),
    legacyIsAdmin: false,
    members,
    grants: [],
    ...over,
  };
}

function aMember(email: string, over: Partial<ReviewMemberInput> = {}): ReviewMemberInput {
  return { email, roleId: 'viewer', acceptedAt: AT - 60 * DAY, lastLoginAt: AT - DAY, declared: true, used: new Map([['view-dashboard', AT - DAY]]), ...over };
}

describe('reviewWorkspace', () => {
  it.each([
    { name: 'an active member using all they hold', member: aMember('a@x'), want: {} },
    { name: 'no login for longer than the threshold', member: aMember('a@x', { lastLoginAt: AT - 31 * DAY }), want: { inactiveMembers: 1 } },
    { name: 'accepted but never logged in, long ago', member: aMember('a@x', { lastLoginAt: undefined }), want: { inactiveMembers: 1 } },
    { name: 'an invitation never accepted', member: aMember('a@x', { acceptedAt: undefined, invitation: { state: 'Waiting', sentAt: AT - 2 * DAY, expiresAt: AT + 5 * DAY } }), want: { invitationsNotAccepted: 1 } },
    { name: 'access ended, still declared', member: aMember('a@x', { expiresAt: AT - DAY }), want: { expiredStillDeclared: 1 } },
    { name: 'access ended, no longer managed', member: aMember('a@x', { expiresAt: AT - DAY, declared: false }), want: {} },
    { name: 'an editor who only viewed', member: aMember('a@x', { roleId: 'editor' }), want: { unusedPrivileges: 1 } },
    { name: 'an editor who used nothing recorded', member: aMember('a@x', { roleId: 'editor', used: new Map() }), want: {} },
    { name: 'a use older than the period does not count', member: aMember('a@x', { roleId: 'editor', used: new Map([['view-dashboard', AT - DAY], ['create-segment', AT - 20 * DAY]]) }), want: { unusedPrivileges: 1 } },
    { name: 'a newcomer is not judged on privileges', member: aMember('a@x', { roleId: 'editor', acceptedAt: AT - 3 * DAY }), want: {} },
  ])('$name', ({ member, want }) => {
    const review = reviewWorkspace(aWorkspace([member]), AT);
    expect({
      inactiveMembers: review.inactiveMembers.length,
      invitationsNotAccepted: review.invitationsNotAccepted.length,
      expiredStillDeclared: review.expiredStillDeclared.length,
      unusedPrivileges: review.unusedPrivileges.length,
    }).toEqual({ inactiveMembers: 0, invitationsNotAccepted: 0, expiredStillDeclared: 0, unusedPrivileges: 0, ...want });
  });

  it('suggests the smallest role, default or custom, that covers what was used', () => {
    const review = reviewWorkspace(aWorkspace([aMember('v@x', { roleId: 'editor' }), aMember('s@x', { roleId: 'editor', used: new Map([['create-segment', AT - DAY]]) })]), AT);
    expect(review.unusedPrivileges).toEqual([
      { email: 's@x', role: 'editor', used: ['create-segment'], unused: ['view-dashboard'], suggestedRole: 'segment-builder' },
      { email: 'v@x', role: 'editor', used: ['view-dashboard'], unused: ['create-segment'], suggestedRole: 'viewer' },
    ]);
  });

  it('counts admins against the maximum', () => {
    const review = reviewWorkspace(aWorkspace([aMember('a@x', { roleId: 'admin' }), aMember('b@x', { roleId: 'admin' }), aMember('c@x')]), AT);
    expect(review.admins).toEqual({ count: 2, max: 1, overLimit: true, members: ['a@x', 'b@x'] });
  });

  it('lists support grants of the period with what was done under them, and skips old quiet ones', () => {
    const grant = { grantee: 'the support team', scope: 'workspace', accessLevel: 'ReadOnly', reason: 'ticket', decisions: { allowed: 3, denied: 1 } };
    const review = reviewWorkspace(
      aWorkspace([], {
        grants: [
          { ...grant, name: 'now', startsAt: AT - DAY, endsAt: AT + DAY },
          { ...grant, name: 'revoked', startsAt: AT - 5 * DAY, endsAt: AT + DAY, revokedAt: AT - 4 * DAY },
          { ...grant, name: 'ancient', startsAt: AT - 100 * DAY, endsAt: AT - 90 * DAY, decisions: { allowed: 0, denied: 0 } },
        ],
      }),
      AT,
    );
    expect(review.supportGrants.map((g) => [g.name, g.state, g.decisions.allowed])).toEqual([
      ['revoked', 'Revoked', 3],
      ['now', 'Active', 3],
    ]);
  });

  it('gives the same JSON for the same input (stable output)', () => {
    const input = [aWorkspace([aMember('b@x', { roleId: 'editor' }), aMember('a@x', { lastLoginAt: AT - 40 * DAY })])];
    expect(JSON.stringify(reviewAccess(input, AT))).toBe(JSON.stringify(reviewAccess(input, AT)));
    expect(reviewAccess(input, AT).totals).toMatchObject({ 'inactive-member': 1, 'unused-privileges': 1 });
  });
});

describe('suggestSmallerRole', () => {
  it('suggests nothing when no smaller role covers the use', () => {
    expect(suggestSmallerRole(aWorkspace([]), new Set(['view-dashboard', 'create-segment']), new Set(['view-dashboard', 'create-segment']))).toBeNull();
  });
});

describe('reviewCounts', () => {
  it.each([
    { name: 'nothing to report', members: [aMember('a@x')], over: {}, want: {} },
    { name: 'an inactive member', members: [aMember('a@x', { lastLoginAt: AT - 31 * DAY })], over: {}, want: { findings: 1, inactiveMembers: 1 } },
    {
      name: 'an invitation and an ended member',
      members: [aMember('a@x', { acceptedAt: undefined, invitation: { state: 'Waiting', sentAt: AT - 2 * DAY, expiresAt: AT + 5 * DAY } }), aMember('b@x', { expiresAt: AT - DAY })],
      over: {},
      want: { findings: 2, invitationsNotAccepted: 1, expiredStillDeclared: 1 },
    },
    { name: 'too many admins', members: [aMember('a@x', { roleId: 'admin', used: new Map([['view-dashboard', AT - DAY], ['create-segment', AT - DAY], ['update-team-members', AT - DAY]]) }), aMember('b@x', { roleId: 'admin', used: new Map([['view-dashboard', AT - DAY], ['create-segment', AT - DAY], ['update-team-members', AT - DAY]]) })], over: {}, want: { findings: 1, tooManyAdmins: 1 } },
    { name: 'an editor who only viewed', members: [aMember('a@x', { roleId: 'editor' })], over: {}, want: { findings: 1, unusedPrivileges: 1 } },
  ])('$name', ({ members, over, want }) => {
    expect(reviewCounts(reviewWorkspace(aWorkspace(members, over), AT))).toEqual({
      findings: 0,
      inactiveMembers: 0,
      invitationsNotAccepted: 0,
      expiredStillDeclared: 0,
      tooManyAdmins: 0,
      unusedPrivileges: 0,
      supportGrants: 0,
      ...want,
    });
  });
});
