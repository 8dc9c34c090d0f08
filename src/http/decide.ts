// The access decision at request time, as a pure function of what the store
// says (gathered into facts) and what the request says, at one instant. No
// I/O and no clock of its own: the caller passes `now`, tests move it.
import { BlockList, isIP } from 'node:net';

/** Why an answer is what it is. Stable: applications branch on these. */
export const DecisionReason = {
  /** The member's role (or the legacy permission set) includes the permission. */
  RoleGrantsPermission: 'role-grants-permission',
  /** An active support grant covers the permission. */
  SupportGrantAllows: 'support-grant-allows',
  /** The member may log in. */
  LoginAllowed: 'login-allowed',
  WorkspaceUnknown: 'workspace-unknown',
  SubjectUnknown: 'subject-unknown',
  PermissionUnknown: 'permission-unknown',
  /** Temporary access ended, or the support grant ended or was revoked. */
  Expired: 'expired',
  NotYetAccepted: 'not-yet-accepted',
  RoleLacksPermission: 'role-lacks-permission',
  TwoFactorRequired: '2fa-required',
  SsoRequired: 'sso-required',
  IpNotAllowed: 'ip-not-allowed',
  IdleTimeout: 'idle-timeout',
  SupportNotGranted: 'support-not-granted',
  SupportNotYetStarted: 'support-not-yet-started',
  SupportReadOnly: 'support-read-only',
  SupportSensitiveData: 'support-sensitive-data',
  SupportOutOfScope: 'support-out-of-scope',
} as const;
export type DecisionReason = (typeof DecisionReason)[keyof typeof DecisionReason];
export const DECISION_REASONS: readonly DecisionReason[] = Object.values(DecisionReason);

/**
 * Longest an answer may be relied on without asking again, even when nothing
 * in it is due to change: a change in the store reaches the API within a
 * second, so a cached answer must not outlive that either.
 */
export const ANSWER_MAX_AGE_MS = 1000;

export interface PermissionFacts {
  access: 'Read' | 'Write';
  sensitive: boolean;
  legacy: boolean;
}

export interface WorkspaceFacts {
  workspaceId: string;
  twoFactorRequired: boolean;
  ssoEnforced: boolean;
  /** undefined: any network. */
  ipAllowlist: BlockList | undefined;
  idleSessionTimeoutMs: number;
  supportAllowReadWrite: boolean;
  permissions: ReadonlyMap<string, PermissionFacts>;
  /** role id -> its permissions. */
  roles: ReadonlyMap<string, ReadonlySet<string>>;
}

export interface MemberFacts {
  email: string;
  /** null: a legacy member with the legacy permission set. */
  roleId: string | null;
  loginType: 'Local' | 'SSO';
  /** Epoch ms; undefined: permanent. */
  expiresAt: number | undefined;
  accepted: boolean;
}

export interface GrantFacts {
  name: string;
  /** undefined: the vendor's whole support team. */
  agents: ReadonlySet<string> | undefined;
  /** undefined: the whole workspace; else the one member account (normalised email). */
  scopeMemberEmail: string | undefined;
  readWrite: boolean;
  startsAt: number;
  endsAt: number;
  revoked: boolean;
}

export interface DecisionRequest {
  /** Normalised (lower-case) email of who is acting. */
  subject: string;
  /** `member` (default) or the vendor's `support` agent. */
  subjectType: 'member' | 'support';
  permission: string;
  ip?: string | undefined;
  loginMethod?: 'local' | 'sso' | undefined;
  mfa?: boolean | undefined;
  idleSeconds?: number | undefined;
  /** Support only: the member account acted on (normalised email), for member-scoped grants. */
  account?: string | undefined;
}

export interface Decision {
  decision: 'allow' | 'deny';
  reason: DecisionReason;
  /** Epoch ms when the answer stops holding (at most ANSWER_MAX_AGE_MS ahead). */
  validUntil: number;
  /** The support grant the answer was made under, for the audit log. */
  grant?: string;
}

const deny = (reason: DecisionReason, now: number, validUntil = now + ANSWER_MAX_AGE_MS): Decision => ({
  decision: 'deny',
  reason,
  validUntil: Math.min(validUntil, now + ANSWER_MAX_AGE_MS),
});

/** The allowlist as a matcher; undefined when it allows any network. */
export function compileAllowlist(cidrs: readonly string[]): BlockList | undefined {
  if (cidrs.length === 0) return undefined;
  const list = new BlockList();
  for (const cidr of cidrs) {
    const [address = '', bits] = cidr.split('/');
    const family = isIP(address) === 6 ? 'ipv6' : 'ipv4';
    const prefix = bits === undefined ? (family === 'ipv6' ? 128 : 32) : Number(bits);
    list.addSubnet(address, prefix, family);
  }
  return list;
}

/** Fail closed: no address, or one that is not an IP, is outside any allowlist. */
export function ipAllowed(allowlist: BlockList | undefined, ip: string | undefined): boolean {
  if (allowlist === undefined) return true;
  if (ip === undefined) return false;
  const family = isIP(ip);
  if (family === 0) return false;
  return allowlist.check(ip, family === 6 ? 'ipv6' : 'ipv4');
}

/** The session checks every subject passes: 2FA and idle time. Returns a denial or the idle bound. */
function sessionChecks(workspace: WorkspaceFacts, request: DecisionRequest, now: number): Decision | number {
  if (workspace.twoFactorRequired && request.mfa !== true) return deny(DecisionReason.TwoFactorRequired, now);
  const idleMs = Math.max(0, (request.idleSeconds ?? 0) * 1000);
  if (idleMs >= workspace.idleSessionTimeoutMs) return deny(DecisionReason.IdleTimeout, now);
  return now + (workspace.idleSessionTimeoutMs - idleMs);
}

/** Who may be let in at all: a known member, not expired, accepted, signed in the required way, from an allowed network. */
function admissionChecks(
  workspace: WorkspaceFacts,
  member: MemberFacts | undefined,
  request: Pick<DecisionRequest, 'loginMethod' | 'ip'>,
  now: number,
): Decision | undefined {
  if (member === undefined) return deny(DecisionReason.SubjectUnknown, now);
  if (member.expiresAt !== undefined && member.expiresAt <= now) return deny(DecisionReason.Expired, now);
  if (!member.accepted) return deny(DecisionReason.NotYetAccepted, now);
  if ((workspace.ssoEnforced || member.loginType === 'SSO') && request.loginMethod !== 'sso') return deny(DecisionReason.SsoRequired, now);
  if (!ipAllowed(workspace.ipAllowlist, request.ip)) return deny(DecisionReason.IpNotAllowed, now);
  return undefined;
}

export type LoginRequest = Pick<DecisionRequest, 'loginMethod' | 'mfa' | 'ip'>;

/**
 * May this member log in now? The same checks as a decision, without a
 * permission or an idle session: where SSO is enforced a local login is
 * refused, where 2FA is required a login without it, and any login from
 * outside the allowlist.
 */
export function decideLogin(workspace: WorkspaceFacts | undefined, member: MemberFacts | undefined, request: LoginRequest, now: number): Decision {
  if (workspace === undefined) return deny(DecisionReason.WorkspaceUnknown, now);
  const refused = admissionChecks(workspace, member, request, now);
  if (refused !== undefined) return refused;
  if (workspace.twoFactorRequired && request.mfa !== true) return deny(DecisionReason.TwoFactorRequired, now);
  return {
    decision: 'allow',
    reason: DecisionReason.LoginAllowed,
    validUntil: Math.min(member?.expiresAt ?? Infinity, now + ANSWER_MAX_AGE_MS),
  };
}

/**
 * May a member do `permission` in the workspace, now? Checks run from the
 * most fundamental (who) to the most specific (what), and the first failure
 * is the reason, so the answer tells the application what to fix first.
 */
export function decideForMember(
  workspace: WorkspaceFacts,
  member: MemberFacts | undefined,
  request: DecisionRequest,
  now: number,
): Decision {
  const permission = workspace.permissions.get(request.permission);
  if (permission === undefined) return deny(DecisionReason.PermissionUnknown, now);
  const refused = admissionChecks(workspace, member, request, now);
  if (refused !== undefined || member === undefined) return refused ?? deny(DecisionReason.SubjectUnknown, now);
  const session = sessionChecks(workspace, request, now);
  if (typeof session !== 'number') return session;
  const granted =
    member.roleId === null ? permission.legacy : (workspace.roles.get(member.roleId)?.has(request.permission) ?? false);
  if (!granted) return deny(DecisionReason.RoleLacksPermission, now);
  return {
    decision: 'allow',
    reason: DecisionReason.RoleGrantsPermission,
    validUntil: Math.min(session, member.expiresAt ?? Infinity, now + ANSWER_MAX_AGE_MS),
  };
}

/** Order of support denials when no grant allows: the most specific one is reported. */
const SUPPORT_DENIAL_RANK: readonly DecisionReason[] = [
  DecisionReason.SupportNotGranted,
  DecisionReason.Expired,
  DecisionReason.SupportNotYetStarted,
  DecisionReason.SupportOutOfScope,
  DecisionReason.TwoFactorRequired,
  DecisionReason.IdleTimeout,
  DecisionReason.SupportSensitiveData,
  DecisionReason.SupportReadOnly,
];

function decideUnderGrant(
  workspace: WorkspaceFacts,
  grant: GrantFacts,
  permission: PermissionFacts,
  request: DecisionRequest,
  now: number,
): Decision {
  const under = (d: Decision): Decision => ({ ...d, grant: grant.name });
  if (grant.revoked || grant.endsAt <= now) return under(deny(DecisionReason.Expired, now));
  if (grant.startsAt > now) return under(deny(DecisionReason.SupportNotYetStarted, now, grant.startsAt));
  if (grant.scopeMemberEmail !== undefined && request.account !== grant.scopeMemberEmail) return under(deny(DecisionReason.SupportOutOfScope, now));
  const session = sessionChecks(workspace, request, now);
  if (typeof session !== 'number') return under(session);
  if (permission.sensitive) return under(deny(DecisionReason.SupportSensitiveData, now));
  if (permission.access !== 'Read' && !(grant.readWrite && workspace.supportAllowReadWrite)) return under(deny(DecisionReason.SupportReadOnly, now));
  return under({
    decision: 'allow',
    reason: DecisionReason.SupportGrantAllows,
    validUntil: Math.min(session, grant.endsAt, now + ANSWER_MAX_AGE_MS),
  });
}

/**
 * May a vendor support agent do `permission`? Only under a grant naming them
 * (or the whole team), inside its window and scope, and only read permissions
 * on data that is not sensitive unless the grant and workspace allow writes.
 * SSO and the IP allowlist are the customer's own sign-in and do not apply to
 * the vendor's agents; 2FA and the idle timeout do.
 */
export function decideForSupport(
  workspace: WorkspaceFacts,
  grants: readonly GrantFacts[],
  request: DecisionRequest,
  now: number,
): Decision {
  const permission = workspace.permissions.get(request.permission);
  if (permission === undefined) return deny(DecisionReason.PermissionUnknown, now);
  let best: Decision | undefined;
  for (const grant of grants) {
    if (grant.agents !== undefined && !grant.agents.has(request.subject)) continue;
    const decision = decideUnderGrant(workspace, grant, permission, request, now);
    if (decision.decision === 'allow') {
      if (best === undefined || best.decision === 'deny' || decision.validUntil > best.validUntil) best = decision;
    } else if (best === undefined || (best.decision === 'deny' && rank(decision.reason) > rank(best.reason))) {
      best = decision;
    }
  }
  return best ?? deny(DecisionReason.SupportNotGranted, now);
}

function rank(reason: DecisionReason): number {
  return SUPPORT_DENIAL_RANK.indexOf(reason);
}

/** The decision for one request: `workspace` undefined means the store has no such workspace. */
export function decide(
  workspace: WorkspaceFacts | undefined,
  member: MemberFacts | undefined,
  grants: readonly GrantFacts[],
  request: DecisionRequest,
  now: number,
): Decision {
  if (workspace === undefined) return deny(DecisionReason.WorkspaceUnknown, now);
  return request.subjectType === 'support'
    ? decideForSupport(workspace, grants, request, now)
    : decideForMember(workspace, member, request, now);
}
