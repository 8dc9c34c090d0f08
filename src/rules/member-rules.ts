// Rules of a Member: its role resolves, its login fits the workspace's SSO,
// its temporary access is in bounds, its email is unique and admins stay few.
import { instantMs } from '../model/time.js';
import { describeLimit, limitEnd } from '../model/duration.js';
import type { Member } from '../model/member.js';
import { memberLoginType } from '../model/policy.js';
import { normalizeEmail } from '../model/text.js';
import { describe, listNames, plural, type Check } from './check-context.js';
import { immutableFields, workspaceFor, workspaceRefImmutable } from './common-rules.js';
import { keyOf, nameOf, namespaceOf } from './object-index.js';

export const MEMBER_IMMUTABLE_FIELDS = [
  {
    field: 'spec.email',
    value: (m: Member) => m.spec.email,
    fix: 'a member\'s email cannot be edited; delete this Member and create one for the new address',
  },
  {
    field: 'spec.displayName',
    value: (m: Member) => m.spec.displayName,
    fix: 'a member\'s name cannot be edited; put it back, or delete this Member and create a new one',
  },
  workspaceRefImmutable,
];

export function checkMember(c: Check<Member>): void {
  const member = c.object;
  immutableFields(c, MEMBER_IMMUTABLE_FIELDS);
  const resendBefore = c.previous?.spec.invitation?.resend ?? 0;
  const resendNow = member.spec.invitation?.resend ?? 0;
  if (c.previous !== undefined && resendNow < resendBefore) {
    c.report(
      'InvitationResendDecreased',
      'error',
      'spec.invitation.resend',
      `spec.invitation.resend went down from ${resendBefore} to ${resendNow}; it only counts up: set it to ${resendBefore + 1} to send the invitation again, or leave it at ${resendBefore}`,
    );
  }
  checkExpiry(c);
  checkRole(c);

  const workspace = workspaceFor(c);
  if (workspace === undefined) return;
  const policy = c.world.policyOf(workspace);
  const namespace = namespaceOf(member);
  const workspaceName = workspace.metadata.name;

  const loginType = memberLoginType(member);
  if (loginType === 'Local' && policy.ssoEnforced) {
    c.report(
      'LocalLoginWithSsoEnforced',
      'error',
      'spec.loginType',
      `${describe(workspace)} enforces SSO (spec.sso.enforced), so members cannot log in with local credentials; set spec.loginType: SSO${member.spec.loginType === undefined ? ' (it defaults to Local)' : ''}`,
    );
  }
  if (loginType === 'SSO' && policy.saml === undefined) {
    c.report(
      'SsoNotConfigured',
      'error',
      'spec.loginType',
      `spec.loginType is SSO but ${describe(workspace)} has no spec.sso identity provider; configure spec.sso on the Workspace or set spec.loginType: Local`,
    );
  }

  if (member.spec.expiresAt !== undefined && policy.maxTemporaryAccessMs !== undefined) {
    const expiresAt = instantMs(member.spec.expiresAt);
    const latest = limitEnd(c.at, policy.maxTemporaryAccessMs).getTime();
    if (!Number.isNaN(expiresAt) && expiresAt > latest) {
      c.report(
        'TemporaryAccessTooLong',
        'error',
        'spec.expiresAt',
        `spec.expiresAt ${member.spec.expiresAt} is more than ${describeLimit(policy.maxTemporaryAccessMs)} ahead, the longest temporary access ${describe(workspace)} allows (spec.maxTemporaryAccess); set it no later than ${new Date(latest).toISOString()}, or raise spec.maxTemporaryAccess`,
      );
    }
  }

  const sameEmail = c.world.membersByEmail(namespace, workspaceName).get(normalizeEmail(member.spec.email)) ?? [];
  const others = sameEmail.filter((other) => keyOf(other) !== keyOf(member));
  if (others.length > 0) {
    c.report(
      'DuplicateEmail',
      'error',
      'spec.email',
      `${member.spec.email} is also the email of ${listNames(others.map(describe))} in ${describe(workspace)}; an email is one member of a workspace, so remove the duplicate Member`,
    );
  }

  const { admins, rank } = c.world.adminsOf(namespace, workspaceName);
  const myRank = rank.get(member);
  if (myRank !== undefined && myRank >= policy.adminsMax) {
    c.report(
      'TooManyAdmins',
      'error',
      'spec.role',
      `${describe(workspace)} allows ${plural(policy.adminsMax, 'member')} with an administrative role (spec.admins.max) and ${admins.length} are declared (${listNames(admins.map(nameOf))}); this one is beyond the limit. Follow the minimum-permission rule: give this member a narrower role or raise spec.admins.max on ${describe(workspace)}`,
    );
  }
  // Demoting an admin at admission: warn when that leaves too few.
  if (
    c.operation === 'UPDATE' &&
    c.previous !== undefined &&
    myRank === undefined &&
    c.world.isAdmin(c.previous) &&
    admins.length < policy.adminsMin
  ) {
    c.report(
      'TooFewAdmins',
      'warning',
      'spec.role',
      `after this change ${describe(workspace)} has ${plural(admins.length, 'admin')}, fewer than spec.admins.min (${policy.adminsMin}); make sure someone else can still manage the workspace`,
    );
  }
}

function checkRole(c: Check<Member>): void {
  const member = c.object;
  const resolved = c.world.resolveRole(member);
  const defaults = [...c.profile.defaultRoles.keys()];
  if (resolved.type === 'legacy') {
    c.report(
      'NoRoleAssigned',
      'warning',
      'spec.role',
      `no role is assigned, so this legacy member keeps the legacy permission set; assign a role (spec.role: one of ${defaults.join(', ')} or a custom Role)`,
    );
    return;
  }
  if (resolved.type !== 'missing') return;
  const role = member.spec.role ?? '';
  const workspace = member.spec.workspaceRef.name;
  const namespace = namespaceOf(member);
  let message: string;
  if (resolved.otherWorkspace !== undefined) {
    message = `Role ${namespace}/${role} belongs to Workspace ${resolved.otherWorkspace}, not ${workspace}; a member can only have a role of its own workspace, so create a Role for ${workspace} or choose another role`;
  } else {
    const wanted = role.toLowerCase();
    const meant = [...c.profile.defaultRoles.values()].find((r) => r.id === wanted || r.displayName.toLowerCase() === wanted);
    message =
      meant !== undefined
        ? `spec.role "${role}" is not a role id; did you mean "${meant.id}"? (default roles are written in lower case: ${defaults.join(', ')})`
        : `spec.role "${role}" is neither a default role (${defaults.join(', ')}) nor a Role in namespace ${namespace} for Workspace ${workspace}; declare Role ${namespace}/${role} with spec.workspaceRef.name: ${workspace}, or pick an existing role`;
  }
  c.report('RoleNotFound', 'error', 'spec.role', message);
}

function checkExpiry(c: Check<Member>): void {
  const text = c.object.spec.expiresAt;
  if (text === undefined) return;
  const expiresAt = instantMs(text);
  if (Number.isNaN(expiresAt) || expiresAt > c.at.getTime()) return;
  // Setting a past end now is a mistake; an end that has passed since is just
  // history (the member is Expired), so it only warns.
  const settingIt =
    c.operation === 'CREATE' || (c.operation === 'UPDATE' && c.previous !== undefined && c.previous.spec.expiresAt !== text);
  if (settingIt) {
    c.report(
      'TemporaryAccessInPast',
      'error',
      'spec.expiresAt',
      `spec.expiresAt ${text} is not in the future (now ${c.at.toISOString()}), so this access would end before it starts; set a later time, or leave expiresAt out for permanent access`,
    );
  } else {
    c.report(
      'TemporaryAccessInPast',
      'warning',
      'spec.expiresAt',
      `temporary access ended at ${text} (now ${c.at.toISOString()}); the member can no longer log in, so remove this Member when it is no longer needed, or set a later spec.expiresAt to extend it`,
    );
  }
}
