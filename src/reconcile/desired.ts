// Declared objects turned into the records the identity store should hold.
// Pure: defaults resolved through src/model/policy.ts, times normalised.
import type { Member } from '../model/member.js';
import type { GatehouseObject } from '../model/kinds.js';
import { deletionPolicyOf, memberLoginType, supportAccessLevel, supportGrantWindow, workspacePolicy } from '../model/policy.js';
import { grantsAdmin, type Profile } from '../model/profile.js';
import type { Role } from '../model/role.js';
import type { SupportGrant } from '../model/support-grant.js';
import type { Workspace } from '../model/workspace.js';
import {
  normalizeEmail,
  type MemberRecord,
  type PermissionRecord,
  type RoleRecord,
  type SourceRecord,
  type SupportGrantRecord,
  type WorkspaceRecord,
} from './records.js';

export function iso(value: Date | string | number): string {
  return new Date(value).toISOString();
}

const seconds = (ms: number) => Math.round(ms / 1000);

export function sourceOf(object: GatehouseObject, file?: string): SourceRecord {
  const source: SourceRecord = { kind: object.kind, namespace: object.metadata.namespace ?? 'default', name: object.metadata.name };
  if (object.metadata.uid !== undefined) source.uid = object.metadata.uid;
  if (object.metadata.generation !== undefined) source.generation = object.metadata.generation;
  if (file !== undefined) source.file = file;
  return source;
}

export function permissionRecords(profile: Profile): PermissionRecord[] {
  const legacy = new Set(profile.legacyPermissions);
  return [...profile.permissions.values()]
    .map((p) => ({
      permissionId: p.id,
      displayName: p.displayName,
      description: p.description,
      access: p.access,
      sensitive: p.sensitive ?? false,
      administrative: profile.adminPermissions.has(p.id),
      legacy: legacy.has(p.id),
    }))
    .sort((a, b) => (a.permissionId < b.permissionId ? -1 : a.permissionId > b.permissionId ? 1 : 0));
}

export function workspaceRecordOf(workspace: Workspace, source: SourceRecord): WorkspaceRecord {
  const policy = workspacePolicy(workspace);
  return {
    workspaceId: policy.workspaceId,
    displayName: policy.displayName,
    twoFactor: policy.twoFactor,
    ssoEnforced: policy.ssoEnforced,
    ...(policy.saml
      ? {
          samlIdpEntityId: policy.saml.idpEntityId,
          samlSsoUrl: policy.saml.ssoUrl,
          samlSigningCertificate: policy.saml.signingCertificate,
        }
      : {}),
    ipAllowlist: [...policy.ipAllowlist],
    idleSessionTimeoutSeconds: seconds(policy.idleSessionTimeoutMs),
    invitationLifetimeSeconds: seconds(policy.invitationLifetimeMs),
    ...(policy.maxTemporaryAccessMs !== undefined ? { maxTemporaryAccessSeconds: seconds(policy.maxTemporaryAccessMs) } : {}),
    adminsMin: policy.adminsMin,
    adminsMax: policy.adminsMax,
    accessReviewIntervalSeconds: seconds(policy.accessReviewIntervalMs),
    inactivityThresholdSeconds: seconds(policy.inactivityThresholdMs),
    supportAllowed: policy.supportAllowed,
    supportMaxDurationSeconds: seconds(policy.supportMaxDurationMs),
    supportAllowReadWrite: policy.supportAllowReadWrite,
    deletionPolicy: deletionPolicyOf(workspace),
    managed: true,
    source,
  };
}

function sortedUnique(values: readonly string[]): string[] {
  return [...new Set(values)].sort();
}

/** The profile's default roles as rows of one workspace; they belong to the Workspace object. */
export function builtinRoleRecords(workspace: WorkspaceRecord, profile: Profile): RoleRecord[] {
  return [...profile.defaultRoles.values()].map((role) => ({
    workspaceId: workspace.workspaceId,
    roleId: role.id,
    displayName: role.displayName,
    description: role.description,
    builtin: true,
    administrative: grantsAdmin(profile, role.permissions),
    permissions: sortedUnique(role.permissions),
    deletionPolicy: workspace.deletionPolicy,
    managed: true,
    ...(workspace.source ? { source: workspace.source } : {}),
  }));
}

export function roleRecordOf(role: Role, workspaceId: string, profile: Profile, source: SourceRecord): RoleRecord {
  const permissions = sortedUnique(role.spec.permissions);
  return {
    workspaceId,
    roleId: role.metadata.name,
    displayName: role.spec.displayName,
    description: role.spec.description ?? '',
    builtin: false,
    administrative: grantsAdmin(profile, permissions),
    permissions,
    deletionPolicy: deletionPolicyOf(role),
    managed: true,
    source,
  };
}

/** The member's declared columns; state, invitation and app facts are the planner's. */
export function memberRecordOf(member: Member, workspaceId: string, source: SourceRecord): MemberRecord {
  // Called for every declared member: plain assignments, no spreads.
  const record: MemberRecord = {
    workspaceId,
    email: member.spec.email,
    emailNormalized: normalizeEmail(member.spec.email),
    displayName: member.spec.displayName,
    loginType: memberLoginType(member),
    state: 'Invited',
    deletionPolicy: deletionPolicyOf(member),
    managed: true,
    source,
  };
  if (member.spec.phone !== undefined) record.phone = member.spec.phone;
  if (member.spec.role !== undefined) record.roleId = member.spec.role;
  if (member.spec.expiresAt !== undefined) record.expiresAt = iso(member.spec.expiresAt);
  return record;
}

export function resendRequestedOf(member: Member): number {
  return member.spec.invitation?.resend ?? 0;
}

/**
 * The grant's columns. A grant without startsAt starts when it was created:
 * metadata.creationTimestamp in a cluster, else when first written (`firstSeen`).
 */
export function grantRecordOf(
  grant: SupportGrant,
  workspaceId: string,
  scopeMemberEmail: string | undefined,
  firstSeen: string,
  source: SourceRecord,
): SupportGrantRecord | undefined {
  const created = grant.metadata.creationTimestamp ?? firstSeen;
  const window = supportGrantWindow(grant, new Date(created));
  if (window === undefined) return undefined;
  return {
    workspaceId,
    name: grant.metadata.name,
    granteeType: grant.spec.grantee.type,
    agents: grant.spec.grantee.type === 'Agents' ? sortedUnique((grant.spec.grantee.agents ?? []).map(normalizeEmail)) : [],
    scopeType: grant.spec.scope.type,
    ...(scopeMemberEmail !== undefined ? { scopeMemberEmail: normalizeEmail(scopeMemberEmail) } : {}),
    accessLevel: supportAccessLevel(grant),
    startsAt: iso(window.startsAt),
    endsAt: iso(window.endsAt),
    reason: grant.spec.reason,
    ...(grant.spec.ticket !== undefined ? { ticket: grant.spec.ticket } : {}),
    state: 'Pending',
    deletionPolicy: deletionPolicyOf(grant),
    managed: true,
    source,
  };
}
