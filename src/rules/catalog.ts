// Every rule Gatehouse enforces, said once: its id (also the condition and event
// reason), its severity, the kinds it applies to and what it checks. docs/rules.md
// describes the same table for people; a test keeps the two in step.
import type { Kind } from '../model/kinds.js';
import type { Severity } from './types.js';

export interface RuleInfo {
  id: string;
  /** Usual severity. `error|warning` rules depend on the operation (see `summary` and docs/rules.md). */
  severity: Severity | 'error|warning';
  kinds: readonly Kind[];
  /** Where it is checked: on the object itself, or when the object is deleted. */
  when: 'object' | 'deletion';
  summary: string;
}

const ALL_KINDS: readonly Kind[] = ['Workspace', 'Role', 'Member', 'SupportGrant'];
const WORKSPACE_SCOPED: readonly Kind[] = ['Role', 'Member', 'SupportGrant'];

const rule = (
  id: string,
  severity: RuleInfo['severity'],
  kinds: readonly Kind[],
  summary: string,
  when: RuleInfo['when'] = 'object',
): RuleInfo => ({ id, severity, kinds, when, summary });

/** The rule catalog, in the order docs/rules.md lists it. */
export const RULES = [
  // Every kind
  rule('SchemaInvalid', 'error', ALL_KINDS, 'The document does not match the schema of its kind: a missing or unknown field, a wrong type or format.'),
  rule('DuplicateObject', 'error', ALL_KINDS, 'The same kind, namespace and name is declared more than once in the input.'),
  rule('PrivateKeyMaterial', 'error', ALL_KINDS, 'A field of the spec or an annotation holds a PEM private key block (for example a signingCertificate with the IdP\'s key pasted in).'),
  rule('DuplicateListItem', 'error', ALL_KINDS, 'A list that is a set (permissions, ipAllowlist, grantee.agents) names the same item twice.'),
  rule('ImmutableFieldChanged', 'error', ALL_KINDS, 'An UPDATE, or a declaration compared with what the identity store recorded, changes a field that cannot change: Workspace spec.workspaceId, Member spec.email and spec.displayName, spec.workspaceRef.'),
  rule('UnknownWorkspace', 'error', WORKSPACE_SCOPED, 'spec.workspaceRef names no Workspace in the object\'s namespace.'),
  rule('DurationOutOfRange', 'error', ['Workspace', 'SupportGrant'], 'A duration is zero, or longer than the API allows (a support grant at most 8784h).'),
  // Workspace
  rule('DuplicateWorkspaceId', 'error', ['Workspace'], 'Two Workspaces (in any namespace) have the same spec.workspaceId, the identity store\'s key.'),
  rule('InvalidAdminLimits', 'error', ['Workspace'], 'spec.admins.min is greater than spec.admins.max.'),
  rule('TooFewAdmins', 'warning', ['Workspace', 'Member'], 'Fewer members with an administrative role than spec.admins.min (expired members do not count); also when deleting or demoting an admin leaves too few.'),
  rule('TwoFactorOptional', 'warning', ['Workspace'], 'spec.twoFactor is Optional; 2FA for every member is recommended.'),
  rule('InvalidCidr', 'error', ['Workspace'], 'An spec.ipAllowlist entry is not an IPv4 or IPv6 network in CIDR notation.'),
  rule('CidrHostBitsSet', 'warning', ['Workspace'], 'An spec.ipAllowlist entry has host bits set (10.0.0.1/8); the network it means is written differently.'),
  rule('AllowlistAllowsAnyAddress', 'warning', ['Workspace'], 'An spec.ipAllowlist entry is 0.0.0.0/0 or ::/0, which lets every address in.'),
  rule('InvalidSsoUrl', 'error', ['Workspace'], 'spec.sso.saml.ssoUrl is not an absolute https URL without credentials.'),
  rule('InvalidSigningCertificate', 'error', ['Workspace'], 'spec.sso.saml.signingCertificate is not a PEM X.509 certificate.'),
  rule('SigningCertificateExpired', 'error|warning', ['Workspace'], 'The IdP signing certificate is past its notAfter date; SSO logins will fail. An error when the change turns SSO enforcement on (everyone would be locked out).'),
  rule('SigningCertificateNotYetValid', 'warning', ['Workspace'], 'The IdP signing certificate is before its notBefore date.'),
  rule('WorkspaceInUse', 'warning', ['Workspace'], 'Deleting a Workspace that Roles, Members or SupportGrants still reference.', 'deletion'),
  // Role
  rule('UnknownPermission', 'error', ['Role'], 'A permission in spec.permissions is not in the product profile\'s catalog.'),
  rule('ReservedRoleName', 'error', ['Role'], 'metadata.name or spec.displayName is a default role\'s id or name (admin, manager, editor, viewer), in any letter case.'),
  rule('DuplicateRoleDisplayName', 'warning', ['Role'], 'Two Roles of one Workspace have the same spec.displayName (case-insensitive); people cannot tell them apart.'),
  rule('RoleInUse', 'error', ['Role'], 'Deleting a Role that Members are still assigned.', 'deletion'),
  rule('TooManyAdmins', 'error', ['Member', 'Role', 'Workspace'], 'More members with an administrative role than spec.admins.max (default 1): the minimum-permission rule.'),
  // Member
  rule('RoleNotFound', 'error', ['Member'], 'spec.role is neither a default role id nor a Role of the same namespace and Workspace.'),
  rule('NoRoleAssigned', 'warning', ['Member'], 'A legacy member with no spec.role keeps the legacy permissions until a role is assigned.'),
  rule('DuplicateEmail', 'error', ['Member'], 'Two Members of one Workspace have the same spec.email (case-insensitive).'),
  rule('TemporaryAccessInPast', 'error|warning', ['Member'], 'spec.expiresAt is not in the future: an error when a Member is created with it or an UPDATE sets it, a warning otherwise (expired members may stay declared).'),
  rule('TemporaryAccessTooLong', 'error', ['Member'], 'spec.expiresAt is further ahead than the Workspace\'s spec.maxTemporaryAccess.'),
  rule('LocalLoginWithSsoEnforced', 'error', ['Member'], 'spec.loginType is Local (the default) in a Workspace whose spec.sso.enforced is true.'),
  rule('SsoNotConfigured', 'error', ['Member'], 'spec.loginType is SSO in a Workspace with no spec.sso.'),
  rule('InvitationResendDecreased', 'error', ['Member'], 'An UPDATE lowers spec.invitation.resend, which can only increase.'),
  // SupportGrant
  rule('SupportAccessNotAllowed', 'error|warning', ['SupportGrant'], 'The Workspace forbids vendor support access (spec.supportAccess.allowed is false, the default): an error for a new grant, a warning for one that existed when support access was switched off (it is revoked).'),
  rule('SupportGrantTooLong', 'error', ['SupportGrant'], 'The grant lasts longer than the Workspace\'s spec.supportAccess.maxDuration (default 720h).'),
  rule('SupportGrantsChained', 'warning', ['SupportGrant'], 'Grants of one Workspace follow each other without a gap and together last longer than spec.supportAccess.maxDuration.'),
  rule('SupportReadWriteNotAllowed', 'error', ['SupportGrant'], 'spec.accessLevel is ReadWrite but the Workspace\'s spec.supportAccess.allowReadWrite is not true.'),
  rule('SupportReasonMissing', 'error', ['SupportGrant'], 'spec.reason is blank.'),
  rule('DurationOrEndsAtRequired', 'error', ['SupportGrant'], 'Exactly one of spec.duration and spec.endsAt must be set.'),
  rule('SupportGrantEndsBeforeStart', 'error', ['SupportGrant'], 'spec.endsAt is not after spec.startsAt.'),
  rule('SupportGrantEnded', 'error|warning', ['SupportGrant'], 'The grant\'s end is not in the future: an error when it is created, a warning otherwise.'),
  rule('InvalidGrantee', 'error', ['SupportGrant'], 'grantee.type Agents lists no agents, or SupportTeam lists some.'),
  rule('InvalidScope', 'error', ['SupportGrant'], 'scope.type Member has no scope.memberRef, or Workspace has one.'),
  rule('ScopeMemberNotFound', 'error', ['SupportGrant'], 'scope.memberRef names no Member of the grant\'s Workspace.'),
  rule('RevokedGrantReinstated', 'error', ['SupportGrant'], 'An UPDATE sets spec.revoked back to false; a revoked grant stays revoked.'),
] as const satisfies readonly RuleInfo[];

type RuleId = (typeof RULES)[number]['id'];

/** Rule ids by name: `RuleIds.UnknownPermission === 'UnknownPermission'`. */
export const RuleIds = Object.freeze(Object.fromEntries(RULES.map((r) => [r.id, r.id]))) as {
  readonly [K in RuleId]: K;
};

export type { RuleId };

const byId = new Map<string, RuleInfo>(RULES.map((r) => [r.id, r]));

export function ruleInfo(id: string): RuleInfo | undefined {
  return byId.get(id);
}
