// Declared state checked against what the identity store recorded (plan, apply,
// the reconciler, validate --store): a declaration is a change from what was
// applied, refused where admission would refuse it; and the rules that time,
// spelling or tenure could get wrong.
import { describe, expect, it } from 'vitest';
import type { GatehouseObject, ObjectRef } from '../model/kinds.js';
import { getDefaultProfile } from '../model/profile.js';
import { checkObject, checkObjects } from './check.js';
import { createObjectIndex } from './object-index.js';
import { aMember, anAdmin, aSupportGrant, aWorkspace, CERT_EXPIRED_2021 } from './testing/builders.js';
import type { Operation, RecordedObject, RecordedState, Violation } from './types.js';

const AT = new Date('2027-01-20T00:00:00Z');
const profile = getDefaultProfile();

/** A store record: `Kind/name` (namespace acme) -> what its row holds. */
function recordedOf(rows: Record<string, RecordedObject>): RecordedState {
  return { of: (ref: ObjectRef) => rows[`${ref.kind}/${ref.name}`] };
}
const show = (violations: Violation[]) => violations.map((v) => `${v.severity} ${v.ruleId} ${v.object.kind}/${v.object.name} ${v.field}`);

interface RecordedCase {
  name: string;
  objects: GatehouseObject[];
  /** Undefined: no store (plain validate). */
  recorded?: Record<string, RecordedObject>;
  at?: string;
  expected: string[];
  says?: string;
}

const admin = anAdmin();
const supportOff = aWorkspace({ spec: { supportAccess: { allowed: false } } });

const cases: RecordedCase[] = [
  // Case 3: email, name and workspace id cannot be edited, whatever path the edit takes.
  {
    name: 'a member email edited after apply',
    objects: [aWorkspace(), admin, aMember({ spec: { email: 'alice.new@acme.example' } })],
    recorded: { 'Member/alice': { email: 'alice@acme.example', displayName: 'Person alice' } },
    expected: ['error ImmutableFieldChanged Member/alice spec.email'],
    says: 'delete this Member',
  },
  {
    name: 'a member email edited only in letter case',
    objects: [aWorkspace(), admin, aMember({ spec: { email: 'Alice@acme.example' } })],
    recorded: { 'Member/alice': { email: 'alice@acme.example', displayName: 'Person alice' } },
    expected: ['error ImmutableFieldChanged Member/alice spec.email'],
  },
  {
    name: 'a member name edited after apply',
    objects: [aWorkspace(), admin, aMember({ spec: { displayName: 'Alice Renamed' } })],
    recorded: { 'Member/alice': { email: 'alice@acme.example', displayName: 'Person alice' } },
    expected: ['error ImmutableFieldChanged Member/alice spec.displayName'],
    says: 'delete this Member and create a new one',
  },
  {
    name: 'a workspace id edited after apply',
    objects: [aWorkspace({ spec: { workspaceId: 'acme-2' } }), admin],
    recorded: { 'Workspace/acme': { workspaceId: 'acme' } },
    expected: ['error ImmutableFieldChanged Workspace/acme spec.workspaceId'],
  },
  {
    name: 'a member moved to another workspace after apply',
    objects: [aWorkspace(), aWorkspace({ name: 'other', spec: { workspaceId: 'other' } }), admin, anAdmin({ spec: { workspaceRef: { name: 'other' } }, name: 'boss' }), aMember({ spec: { workspaceRef: { name: 'other' } } })],
    recorded: { 'Workspace/acme': { workspaceId: 'acme' }, 'Member/alice': { workspaceId: 'acme', email: 'alice@acme.example', displayName: 'Person alice' } },
    expected: ['error ImmutableFieldChanged Member/alice spec.workspaceRef.name'],
  },
  {
    name: 'a workspace id edited reports the Workspace only, not each of its members',
    objects: [aWorkspace({ spec: { workspaceId: 'acme-2' } }), admin, aMember()],
    recorded: { 'Workspace/acme': { workspaceId: 'acme' }, 'Member/alice': { workspaceId: 'acme', email: 'alice@acme.example', displayName: 'Person alice' } },
    expected: ['error ImmutableFieldChanged Workspace/acme spec.workspaceId'],
  },
  {
    name: 'unchanged fields are not reported',
    objects: [aWorkspace(), admin, aMember()],
    recorded: { 'Workspace/acme': { workspaceId: 'acme' }, 'Member/alice': { email: 'alice@acme.example', displayName: 'Person alice' } },
    expected: [],
  },
  // Case 4: going back on a revocation or a resend.
  {
    name: 'a grant revoked by its declaration is un-revoked',
    objects: [aWorkspace(), admin, aSupportGrant({ spec: { revoked: false } })],
    recorded: { 'SupportGrant/ticket-1234': { startsAt: '2027-01-19T00:00:00.000Z', revokedByDeclaration: true } },
    expected: ['error RevokedGrantReinstated SupportGrant/ticket-1234 spec.revoked'],
  },
  {
    name: 'a grant revoked because support was switched off is not "reinstated" by its unchanged spec',
    objects: [aWorkspace(), admin, aSupportGrant()],
    recorded: { 'SupportGrant/ticket-1234': { startsAt: '2027-01-19T00:00:00.000Z', revokedByDeclaration: false } },
    expected: [],
  },
  {
    name: 'the resend counter goes down',
    objects: [aWorkspace(), admin, aMember({ spec: { invitation: { resend: 1 } } })],
    recorded: { 'Member/alice': { email: 'alice@acme.example', displayName: 'Person alice', invitationResend: 2 } },
    expected: ['error InvitationResendDecreased Member/alice spec.invitation.resend'],
    says: 'set it to 3',
  },
  // Case 1: switching support access off ends grants; it is not an error on them.
  {
    name: 'support switched off with a grant in the store: a warning, the grant is revoked',
    objects: [supportOff, admin, aSupportGrant()],
    recorded: { 'SupportGrant/ticket-1234': { startsAt: '2027-01-19T00:00:00.000Z' } },
    expected: ['warning SupportAccessNotAllowed SupportGrant/ticket-1234 spec.workspaceRef.name'],
    says: 'revoked',
  },
  {
    name: 'a new grant where support is off: an error',
    objects: [supportOff, admin, aSupportGrant()],
    recorded: {},
    expected: ['error SupportAccessNotAllowed SupportGrant/ticket-1234 spec.workspaceRef.name'],
  },
  {
    name: 'support off, no store (validate): a warning, since the grant may be one the switch ends',
    objects: [supportOff, admin, aSupportGrant()],
    expected: ['warning SupportAccessNotAllowed SupportGrant/ticket-1234 spec.workspaceRef.name'],
  },
  // Case 2: a grant's window is measured from when it really started.
  {
    name: 'an endsAt-only grant moved later on day 19 lasts 45 days from its real start',
    objects: [aWorkspace(), admin, aSupportGrant({ spec: { duration: undefined, endsAt: '2027-02-15T00:00:00Z' } })],
    recorded: { 'SupportGrant/ticket-1234': { startsAt: '2027-01-01T00:00:00.000Z' } },
    expected: ['error SupportGrantTooLong SupportGrant/ticket-1234 spec.endsAt'],
    says: 'from 2027-01-01T00:00:00.000Z',
  },
  {
    name: 'startsAt moved later cannot restart a grant that already began',
    objects: [aWorkspace(), admin, aSupportGrant({ spec: { duration: undefined, startsAt: '2027-01-19T00:00:00Z', endsAt: '2027-02-15T00:00:00Z' } })],
    recorded: { 'SupportGrant/ticket-1234': { startsAt: '2027-01-01T00:00:00.000Z' } },
    expected: ['error SupportGrantTooLong SupportGrant/ticket-1234 spec.endsAt'],
  },
  {
    name: 'the same grant within 30 days of its real start passes',
    objects: [aWorkspace(), admin, aSupportGrant({ spec: { duration: undefined, endsAt: '2027-01-30T00:00:00Z' } })],
    recorded: { 'SupportGrant/ticket-1234': { startsAt: '2027-01-01T00:00:00.000Z' } },
    expected: [],
  },
  // Case 10: the longest-standing admin keeps access, whatever the names.
  {
    name: 'admin zed applied first, abe added later: abe is beyond admins.max',
    objects: [aWorkspace({ spec: { admins: { max: 1 } } }), anAdmin({ name: 'zed' }), anAdmin({ name: 'abe' })],
    recorded: { 'Member/zed': { email: 'zed@acme.example', displayName: 'Person zed', since: '2027-01-01T00:00:00.000Z' } },
    expected: ['error TooManyAdmins Member/abe spec.role'],
  },
  {
    name: 'both applied: the one recorded first keeps access',
    objects: [aWorkspace({ spec: { admins: { max: 1 } } }), anAdmin({ name: 'abe' }), anAdmin({ name: 'zed' })],
    recorded: {
      'Member/zed': { email: 'zed@acme.example', displayName: 'Person zed', since: '2027-01-01T00:00:00.000Z' },
      'Member/abe': { email: 'abe@acme.example', displayName: 'Person abe', since: '2027-01-05T00:00:00.000Z' },
    },
    expected: ['error TooManyAdmins Member/abe spec.role'],
  },
];

describe('declared state against the identity store', () => {
  it.each(cases)('$name', ({ objects, recorded, at, expected, says }) => {
    const violations = checkObjects(objects, {
      at: new Date(at ?? AT),
      profile,
      ...(recorded !== undefined ? { recorded: recordedOf(recorded) } : {}),
    });
    expect(show(violations)).toEqual(expected);
    if (says !== undefined) expect(violations.map((v) => v.message).join('\n')).toContain(says);
  });

  it('the reconciler path (checkObject against an index) sees the same record', () => {
    const member = aMember({ spec: { email: 'alice.new@acme.example' } });
    const violations = checkObject(member, {
      at: AT,
      profile,
      index: createObjectIndex([aWorkspace(), admin, member]),
      recorded: recordedOf({ 'Member/alice': { email: 'alice@acme.example', displayName: 'Person alice' } }),
    });
    expect(show(violations)).toEqual(['error ImmutableFieldChanged Member/alice spec.email']);
  });
});

describe('support access switched off, at admission', () => {
  const index = createObjectIndex([supportOff, admin]);
  it.each<[string, Operation, string]>([
    ['creating a grant is refused', 'CREATE', 'error'],
    ['an update of an existing grant only warns: the grant is revoked', 'UPDATE', 'warning'],
  ])('%s', (_name, operation, severity) => {
    const grant = aSupportGrant();
    const violations = checkObject(grant, { at: AT, profile, index, operation, ...(operation === 'UPDATE' ? { oldObject: grant } : {}) });
    expect(show(violations)).toEqual([`${severity} SupportAccessNotAllowed SupportGrant/ticket-1234 spec.workspaceRef.name`]);
  });
});

// Case 8: one reader of time. What it refuses is a schema violation at the field.
describe('time spellings', () => {
  const member = (expiresAt: string) => aMember({ spec: { expiresAt } });
  it.each([
    ['a leap second', '2027-06-30T23:59:60Z'],
    ['an offset without minutes', '2027-06-30T23:59:59+05'],
    ['an offset without a colon', '2027-06-30T23:59:59+0500'],
    ['a space for T', '2027-06-30 23:59:59Z'],
    ['a day the month lacks', '2027-02-30T00:00:00Z'],
    ['hour 24', '2027-06-30T24:00:00Z'],
    ['no seconds', '2027-06-30T23:59Z'],
    ['no offset', '2027-06-30T23:59:59'],
    ['a date only', '2027-06-30'],
  ])('refuses %s (%s) as SchemaInvalid at spec.expiresAt', (_name, text) => {
    const violations = checkObjects([aWorkspace(), admin, member(text)], { at: AT, profile });
    expect(show(violations)).toEqual(['error SchemaInvalid Member/alice spec.expiresAt']);
  });

  it.each([
    ['UTC', '2027-06-30T23:59:59Z'],
    ['an offset', '2027-06-30T23:59:59+05:00'],
    ['fractional seconds', '2027-06-30T23:59:59.123456789Z'],
    ['lower-case t and z', '2027-06-30t23:59:59z'],
  ])('accepts %s (%s), and the time rules read it', (_name, text) => {
    const workspace = aWorkspace({ spec: { maxTemporaryAccess: '24h' } });
    const violations = checkObjects([workspace, admin, member(text)], { at: AT, profile });
    // Half a year ahead: beyond the 24h limit, so the rule must have read the time.
    expect(show(violations)).toEqual(['error TemporaryAccessTooLong Member/alice spec.expiresAt']);
  });

  it.each([
    ['spec.idleSessionTimeout', { idleSessionTimeout: '400ms' }],
    ['spec.invitationLifetime', { invitationLifetime: '999ms' }],
    ['spec.maxTemporaryAccess', { maxTemporaryAccess: '1500ms' }],
  ])('refuses a duration the store cannot keep in whole seconds: %s', (field, spec) => {
    const violations = checkObjects([aWorkspace({ spec }), admin], { at: AT, profile });
    expect(show(violations)).toEqual([`error DurationOutOfRange Workspace/acme ${field}`]);
    expect(violations[0]?.message).toContain('whole');
  });
});

// Case 11: the seed's periods (a week, a month, a year) are calendar periods.
describe('calendar periods', () => {
  const grant = (startsAt: string, endsAt: string) => aSupportGrant({ spec: { duration: undefined, startsAt, endsAt } });
  const workspace = (maxDuration?: string) => aWorkspace({ spec: { supportAccess: { allowed: true, ...(maxDuration ? { maxDuration } : {}) } } });
  it.each([
    ['1 January to 1 February under the default month (720h)', undefined, '2027-01-01T00:00:00Z', '2027-02-01T00:00:00Z', []],
    ['31 January to 28 February is one month', undefined, '2027-01-31T00:00:00Z', '2027-02-28T00:00:00Z', []],
    ['one month and one second is too long', undefined, '2027-01-01T00:00:00Z', '2027-02-01T00:00:01Z', ['error SupportGrantTooLong SupportGrant/ticket-1234 spec.endsAt']],
    ['a leap year (2028) under a year of 8760h', '8760h', '2028-01-01T00:00:00Z', '2029-01-01T00:00:00Z', []],
    ['a year and a day is too long', '8760h', '2027-01-01T00:00:00Z', '2028-01-02T00:00:00Z', ['error SupportGrantTooLong SupportGrant/ticket-1234 spec.endsAt']],
    ['a week is 168h', '168h', '2027-03-25T00:00:00Z', '2027-04-01T00:00:00Z', []],
    ['other limits stay exact', '200h', '2027-01-01T00:00:00Z', '2027-01-09T09:00:00Z', ['error SupportGrantTooLong SupportGrant/ticket-1234 spec.endsAt']],
  ])('%s', (_name, maxDuration, startsAt, endsAt, expected) => {
    const violations = checkObjects([workspace(maxDuration), admin, grant(startsAt, endsAt)], { at: new Date('2026-12-01T00:00:00Z'), profile });
    expect(show(violations)).toEqual(expected);
  });

  it('maxTemporaryAccess of 720h allows expiresAt one calendar month ahead', () => {
    const ws = aWorkspace({ spec: { maxTemporaryAccess: '720h' } });
    const at = { at: new Date('2027-01-01T00:00:00Z'), profile };
    expect(show(checkObjects([ws, admin, aMember({ spec: { expiresAt: '2027-02-01T00:00:00Z' } })], at))).toEqual([]);
    expect(show(checkObjects([ws, admin, aMember({ spec: { expiresAt: '2027-02-01T00:00:01Z' } })], at))).toEqual(['error TemporaryAccessTooLong Member/alice spec.expiresAt']);
  });
});

// The "Also" items: allowlists read as networks, SSO enforcement with a dead certificate.
describe('IP allowlist spellings', () => {
  const withList = (ipAllowlist: string[]) => [aWorkspace({ spec: { ipAllowlist } }), admin];
  it.each<[string, string[], string[]]>([
    ['two halves make every IPv4 address', ['0.0.0.0/1', '128.0.0.0/1'], ['warning AllowlistAllowsAnyAddress Workspace/acme spec.ipAllowlist']],
    ['four quarters make every IPv6 address', ['::/2', '4000::/2', '8000::/2', 'c000::/2'], ['warning AllowlistAllowsAnyAddress Workspace/acme spec.ipAllowlist']],
    ['halves with a gap are fine', ['0.0.0.0/1', '128.0.0.0/2'], []],
    ['one network written two ways', ['203.0.113.0/24', '203.0.113.7/24'], ['error DuplicateListItem Workspace/acme spec.ipAllowlist[1]', 'warning CidrHostBitsSet Workspace/acme spec.ipAllowlist[1]']],
    ['one IPv6 network with and without leading zeros', ['2001:db8::/32', '2001:0db8:0000::/32'], ['error DuplicateListItem Workspace/acme spec.ipAllowlist[1]']],
    ['an empty list means any network', [], ['warning AllowlistAllowsAnyAddress Workspace/acme spec.ipAllowlist']],
    ['distinct networks are fine', ['203.0.113.0/24', '198.51.100.17/32', '2001:db8::/32'], []],
  ])('%s', (_name, list, expected) => {
    expect(show(checkObjects(withList(list), { at: AT, profile }))).toEqual(expected);
  });
});

describe('enforcing SSO while the IdP certificate has expired', () => {
  const sso = (enforced: boolean) => ({ enforced, saml: { idpEntityId: 'https://idp.acme.example/metadata', ssoUrl: 'https://idp.acme.example/sso', signingCertificate: CERT_EXPIRED_2021 } });
  const ssoAdmin = anAdmin({ spec: { loginType: 'SSO' } });
  const enforced = aWorkspace({ spec: { sso: sso(true) } });
  const field = 'error SigningCertificateExpired Workspace/acme spec.sso.saml.signingCertificate';
  it('is an error when a Workspace is created enforcing it (admission)', () => {
    const violations = checkObject(enforced, { at: AT, profile, index: createObjectIndex([ssoAdmin]), operation: 'CREATE' });
    expect(show(violations)).toEqual([field]);
    expect(violations[0]?.message).toContain('locked out');
  });
  it('is an error when an UPDATE turns enforcement on (admission)', () => {
    const before = aWorkspace({ spec: { sso: sso(false) } });
    const violations = checkObject(enforced, { at: AT, profile, index: createObjectIndex([before, ssoAdmin]), operation: 'UPDATE', oldObject: before });
    expect(show(violations)).toEqual([field]);
  });
  it('is an error when the store recorded SSO not enforced (plan, apply, reconciler)', () => {
    const violations = checkObjects([enforced, ssoAdmin], { at: AT, profile, recorded: recordedOf({ 'Workspace/acme': { workspaceId: 'acme', ssoEnforced: false } }) });
    expect(show(violations)).toEqual([field]);
  });
  it('stays a warning once enforced with that certificate (it expired since)', () => {
    const violations = checkObjects([enforced, ssoAdmin], { at: AT, profile, recorded: recordedOf({ 'Workspace/acme': { workspaceId: 'acme', ssoEnforced: true } }) });
    expect(show(violations)).toEqual([field.replace('error', 'warning')]);
  });
});

// Case 2, second half: back-to-back grants are one stretch of access.
describe('back-to-back support grants', () => {
  const grant = (name: string, startsAt: string, endsAt: string, revoked = false) =>
    aSupportGrant({ name, spec: { duration: undefined, startsAt, endsAt, ...(revoked ? { revoked } : {}) } });
  const at = { at: new Date('2026-12-01T00:00:00Z'), profile };
  it.each<[string, GatehouseObject[], string[]]>([
    ['two months without a gap: a warning on each, naming the other', [grant('a', '2027-01-01T00:00:00Z', '2027-02-01T00:00:00Z'), grant('b', '2027-02-01T00:00:00Z', '2027-03-01T00:00:00Z')], ['warning SupportGrantsChained SupportGrant/a spec.endsAt', 'warning SupportGrantsChained SupportGrant/b spec.endsAt']],
    ['overlapping grants count as one stretch too', [grant('a', '2027-01-01T00:00:00Z', '2027-01-25T00:00:00Z'), grant('b', '2027-01-20T00:00:00Z', '2027-02-15T00:00:00Z')], ['warning SupportGrantsChained SupportGrant/a spec.endsAt', 'warning SupportGrantsChained SupportGrant/b spec.endsAt']],
    ['a gap between them: nothing', [grant('a', '2027-01-01T00:00:00Z', '2027-02-01T00:00:00Z'), grant('b', '2027-02-02T00:00:00Z', '2027-03-01T00:00:00Z')], []],
    ['within one month together: nothing', [grant('a', '2027-01-01T00:00:00Z', '2027-01-15T00:00:00Z'), grant('b', '2027-01-15T00:00:00Z', '2027-02-01T00:00:00Z')], []],
    ['a revoked grant does not count', [grant('a', '2027-01-01T00:00:00Z', '2027-02-01T00:00:00Z', true), grant('b', '2027-02-01T00:00:00Z', '2027-03-01T00:00:00Z')], []],
  ])('%s', (_name, grants, expected) => {
    const violations = checkObjects([aWorkspace(), admin, ...grants], at);
    expect(show(violations)).toEqual(expected);
    if (expected.length > 0) expect(violations[0]?.message).toContain('b');
  });
});
