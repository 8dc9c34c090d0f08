import { describe, expect, it } from 'vitest';
import { ManualClock } from '../util/clock.js';
import {
  ANSWER_MAX_AGE_MS,
  compileAllowlist,
  decide,
  decideLogin,
  ipAllowed,
  type DecisionRequest,
  type GrantFacts,
  type MemberFacts,
  type WorkspaceFacts,
} from './decide.js';

const T0 = '2026-06-01T00:00:00.000Z';
const t0 = Date.parse(T0);
const HOUR = 3_600_000;

function aWorkspace(over: Partial<WorkspaceFacts> = {}): WorkspaceFacts {
  return {
    workspaceId: 'acme',
    twoFactorRequired: true,
    ssoEnforced: false,
    ipAllowlist: compileAllowlist(['203.0.113.0/24', '2001:db8::/48']),
    idleSessionTimeoutMs: 12 * HOUR,
    supportAllowReadWrite: false,
    permissions: new Map([
      ['view-dashboard', { access: 'Read', sensitive: false, legacy: true }],
      ['view-pii', { access: 'Read', sensitive: true, legacy: false }],
      ['create-segment', { access: 'Write', sensitive: false, legacy: false }],
    ]),
    roles: new Map([
      ['viewer', new Set(['view-dashboard'])],
      ['editor', new Set(['view-dashboard', 'create-segment'])],
    ]),
    ...over,
  };
}

function aMember(over: Partial<MemberFacts> = {}): MemberFacts {
  return { email: 'alice@acme.example', roleId: 'viewer', loginType: 'Local', expiresAt: undefined, accepted: true, ...over };
}

function aGrant(over: Partial<GrantFacts> = {}): GrantFacts {
  return {
    name: 'ticket-1',
    agents: undefined,
    scopeMemberEmail: undefined,
    readWrite: false,
    startsAt: t0 - HOUR,
    endsAt: t0 + 7 * 24 * HOUR,
    revoked: false,
    ...over,
  };
}

function aRequest(over: Partial<DecisionRequest> = {}): DecisionRequest {
  return {
    subject: 'alice@acme.example',
    subjectType: 'member',
    permission: 'view-dashboard',
    ip: '203.0.113.9',
    loginMethod: 'local',
    mfa: true,
    idleSeconds: 0,
    ...over,
  };
}

describe('decide for a member', () => {
  const cases: Array<{ name: string; workspace?: WorkspaceFacts | null; member?: MemberFacts | null; request?: Partial<DecisionRequest>; want: string; allow?: boolean }> = [
    { name: 'a role that includes the permission', want: 'role-grants-permission', allow: true },
    { name: 'an unknown workspace', workspace: null, want: 'workspace-unknown' },
    { name: 'an unknown subject', member: null, want: 'subject-unknown' },
    { name: 'an unknown permission', request: { permission: 'launch-rockets' }, want: 'permission-unknown' },
    { name: 'temporary access that ended', member: aMember({ expiresAt: t0 }), want: 'expired' },
    { name: 'an invitation not yet accepted', member: aMember({ accepted: false }), want: 'not-yet-accepted' },
    { name: 'a role without the permission', request: { permission: 'create-segment' }, want: 'role-lacks-permission' },
    { name: 'no second factor where 2FA is required', request: { mfa: false }, want: '2fa-required' },
    { name: 'an unknown second factor state', request: { mfa: undefined }, want: '2fa-required' },
    { name: 'no 2FA where it is optional', workspace: aWorkspace({ twoFactorRequired: false }), request: { mfa: false }, want: 'role-grants-permission', allow: true },
    { name: 'a local login where SSO is enforced', workspace: aWorkspace({ ssoEnforced: true }), want: 'sso-required' },
    { name: 'a local login of an SSO member', member: aMember({ loginType: 'SSO' }), want: 'sso-required' },
    { name: 'an SSO login where SSO is enforced', workspace: aWorkspace({ ssoEnforced: true }), request: { loginMethod: 'sso' }, want: 'role-grants-permission', allow: true },
    { name: 'an address outside the allowlist', request: { ip: '198.51.100.1' }, want: 'ip-not-allowed' },
    { name: 'an IPv6 address inside the allowlist', request: { ip: '2001:db8::1' }, want: 'role-grants-permission', allow: true },
    { name: 'no address where an allowlist is set', request: { ip: undefined }, want: 'ip-not-allowed' },
    { name: 'a garbled address', request: { ip: 'not-an-ip' }, want: 'ip-not-allowed' },
    { name: 'any address without an allowlist', workspace: aWorkspace({ ipAllowlist: undefined }), request: { ip: undefined }, want: 'role-grants-permission', allow: true },
    { name: 'a session idle for the whole timeout', request: { idleSeconds: 12 * 3600 }, want: 'idle-timeout' },
    { name: 'a legacy member and a legacy permission', member: aMember({ roleId: null }), want: 'role-grants-permission', allow: true },
    { name: 'a legacy member and another permission', member: aMember({ roleId: null }), request: { permission: 'create-segment' }, want: 'role-lacks-permission' },
  ];
  it.each(cases)('$name: $want', ({ workspace, member, request, want, allow }) => {
    const ws = workspace === null ? undefined : (workspace ?? aWorkspace());
    const m = member === null ? undefined : (member ?? aMember());
    const decision = decide(ws, m, [], aRequest(request), t0);
    expect(decision.reason).toBe(want);
    expect(decision.decision).toBe(allow ? 'allow' : 'deny');
    expect(decision.validUntil).toBeGreaterThan(t0);
    expect(decision.validUntil).toBeLessThanOrEqual(t0 + ANSWER_MAX_AGE_MS);
  });

  it('ends access at the end time exactly, whatever the reconciler did', () => {
    const clock = new ManualClock(T0);
    const member = aMember({ expiresAt: t0 + 500 });
    const first = decide(aWorkspace(), member, [], aRequest(), clock.now().getTime());
    expect(first).toMatchObject({ decision: 'allow', validUntil: t0 + 500 });
    clock.advance(499);
    expect(decide(aWorkspace(), member, [], aRequest(), clock.now().getTime()).decision).toBe('allow');
    clock.advance(1);
    expect(decide(aWorkspace(), member, [], aRequest(), clock.now().getTime())).toMatchObject({ decision: 'deny', reason: 'expired' });
  });

  it('holds an allow no longer than the idle timeout leaves', () => {
    const idleLeftMs = 400;
    const workspace = aWorkspace({ idleSessionTimeoutMs: 10_000 });
    const decision = decide(workspace, aMember(), [], aRequest({ idleSeconds: (10_000 - idleLeftMs) / 1000 }), t0);
    expect(decision).toMatchObject({ decision: 'allow', validUntil: t0 + idleLeftMs });
  });
});

describe('decide for vendor support', () => {
  const support = (over: Partial<DecisionRequest> = {}) =>
    aRequest({ subject: 'agent@vendor.example', subjectType: 'support', ip: '192.0.2.7', ...over });
  const cases: Array<{ name: string; grants: GrantFacts[]; request?: Partial<DecisionRequest>; workspace?: WorkspaceFacts; want: string; allow?: boolean }> = [
    { name: 'a read permission under an active team grant', grants: [aGrant()], want: 'support-grant-allows', allow: true },
    { name: 'no grant at all', grants: [], want: 'support-not-granted' },
    { name: 'a grant naming other agents', grants: [aGrant({ agents: new Set(['other@vendor.example']) })], want: 'support-not-granted' },
    { name: 'a grant naming this agent', grants: [aGrant({ agents: new Set(['agent@vendor.example']) })], want: 'support-grant-allows', allow: true },
    { name: 'a write permission on a read-only grant', grants: [aGrant()], request: { permission: 'create-segment' }, want: 'support-read-only' },
    {
      name: 'a write permission on a read-write grant the workspace allows',
      grants: [aGrant({ readWrite: true })],
      workspace: aWorkspace({ supportAllowReadWrite: true }),
      request: { permission: 'create-segment' },
      want: 'support-grant-allows',
      allow: true,
    },
    { name: 'a read-write grant the workspace does not allow', grants: [aGrant({ readWrite: true })], request: { permission: 'create-segment' }, want: 'support-read-only' },
    { name: 'sensitive data', grants: [aGrant()], request: { permission: 'view-pii' }, want: 'support-sensitive-data' },
    { name: 'a grant that ended', grants: [aGrant({ endsAt: t0 })], want: 'expired' },
    { name: 'a revoked grant', grants: [aGrant({ revoked: true })], want: 'expired' },
    { name: 'a grant not yet started', grants: [aGrant({ startsAt: t0 + HOUR })], want: 'support-not-yet-started' },
    { name: 'another account than the grant\'s member', grants: [aGrant({ scopeMemberEmail: 'bob@acme.example' })], request: { account: 'carol@acme.example' }, want: 'support-out-of-scope' },
    { name: 'no account under a member-scoped grant', grants: [aGrant({ scopeMemberEmail: 'bob@acme.example' })], want: 'support-out-of-scope' },
    { name: 'the grant\'s member account', grants: [aGrant({ scopeMemberEmail: 'bob@acme.example' })], request: { account: 'bob@acme.example' }, want: 'support-grant-allows', allow: true },
    { name: 'no second factor', grants: [aGrant()], request: { mfa: false }, want: '2fa-required' },
    { name: 'an expired grant beside an active one', grants: [aGrant({ name: 'old', endsAt: t0 - 1 }), aGrant({ name: 'new' })], want: 'support-grant-allows', allow: true },
  ];
  it.each(cases)('$name: $want', ({ grants, request, workspace, want, allow }) => {
    const decision = decide(workspace ?? aWorkspace(), undefined, grants, support(request), t0);
    expect(decision.reason).toBe(want);
    expect(decision.decision).toBe(allow ? 'allow' : 'deny');
    if (grants.length > 0 && want !== 'support-not-granted') expect(decision.grant).toBeDefined();
  });

  it('ends support access at the grant\'s end exactly', () => {
    const clock = new ManualClock(T0);
    const grant = aGrant({ endsAt: t0 + 300 });
    expect(decide(aWorkspace(), undefined, [grant], support(), clock.now().getTime())).toMatchObject({ decision: 'allow', validUntil: t0 + 300, grant: 'ticket-1' });
    clock.advance(300);
    expect(decide(aWorkspace(), undefined, [grant], support(), clock.now().getTime())).toMatchObject({ decision: 'deny', reason: 'expired' });
  });
});

describe('ipAllowed', () => {
  it.each([
    ['203.0.113.255', true],
    ['203.0.114.0', false],
    ['2001:db8:0:ffff::1', true],
    ['2001:db9::1', false],
    ['::ffff:203.0.113.9', true], // an IPv4-mapped address is that IPv4 address,
  ])('%s -> %s', (ip, want) => {
    expect(ipAllowed(compileAllowlist(['203.0.113.0/24', '2001:db8::/48']), ip)).toBe(want);
  });
});

describe('decideLogin', () => {
  const login = (over: Partial<{ loginMethod: 'local' | 'sso'; mfa: boolean; ip: string }> = {}) => ({ loginMethod: 'local' as const, mfa: true, ip: '203.0.113.1', ...over });
  it.each([
    { name: 'a local login with 2FA from the office', want: 'login-allowed' },
    { name: 'a local login where SSO is enforced', workspace: aWorkspace({ ssoEnforced: true }), want: 'sso-required' },
    { name: 'a login without 2FA where it is required', request: { mfa: false }, want: '2fa-required' },
    { name: 'a login from outside the allowlist', request: { ip: '192.0.2.1' }, want: 'ip-not-allowed' },
    { name: 'a login after temporary access ended', member: aMember({ expiresAt: t0 - 1 }), want: 'expired' },
    { name: 'a login before the invitation was accepted', member: aMember({ accepted: false }), want: 'not-yet-accepted' },
    { name: 'an unknown member', member: null, want: 'subject-unknown' },
  ] as Array<{ name: string; workspace?: WorkspaceFacts; member?: MemberFacts | null; request?: Partial<{ loginMethod: 'local' | 'sso'; mfa: boolean; ip: string }>; want: string }>)(
    '$name: $want',
    ({ workspace, member, request, want }) => {
      const decision = decideLogin(workspace ?? aWorkspace(), member === null ? undefined : (member ?? aMember()), login(request), t0);
      expect(decision.reason).toBe(want);
      expect(decision.decision).toBe(want === 'login-allowed' ? 'allow' : 'deny');
    },
  );
});
