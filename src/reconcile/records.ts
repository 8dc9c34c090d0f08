// What the identity store holds, as plain values the planner compares: the
// desired records (from declared objects) and the observed ones (read from the
// store) have one shape, so a plan is a field-by-field difference. Times are
// ISO-8601 UTC strings with milliseconds; they compare as strings.
import { hash } from 'node:crypto';
import type { DeletionPolicy } from '../model/common.js';
import type { Kind, ObjectRef } from '../model/kinds.js';
import { canonicalJson } from './canonical-json.js';

export type MemberState = 'Invited' | 'Active' | 'Expired';
export type InvitationState = 'Waiting' | 'Completed' | 'Expired';
export type SupportGrantState = 'Pending' | 'Active' | 'Expired' | 'Revoked';

/** The declared object a row belongs to. */
export interface SourceRecord {
  kind: Kind;
  namespace: string;
  name: string;
  uid?: string;
  generation?: number;
  file?: string;
}

export interface OwnedRecord {
  deletionPolicy: DeletionPolicy;
  /** False once the owner was removed with deletionPolicy Orphan. */
  managed: boolean;
  /** Undefined for rows nobody owns (written outside Gatehouse). */
  source?: SourceRecord;
  /** Digest of the managed columns as Gatehouse last wrote them (observed rows only). */
  writtenDigest?: string;
}

export interface PermissionRecord {
  permissionId: string;
  displayName: string;
  description: string;
  access: 'Read' | 'Write';
  sensitive: boolean;
  administrative: boolean;
  legacy: boolean;
}

export interface WorkspaceRecord extends OwnedRecord {
  workspaceId: string;
  displayName: string;
  twoFactor: string;
  ssoEnforced: boolean;
  samlIdpEntityId?: string;
  samlSsoUrl?: string;
  samlSigningCertificate?: string;
  ipAllowlist: string[];
  idleSessionTimeoutSeconds: number;
  invitationLifetimeSeconds: number;
  maxTemporaryAccessSeconds?: number;
  adminsMin: number;
  adminsMax: number;
  accessReviewIntervalSeconds: number;
  inactivityThresholdSeconds: number;
  supportAllowed: boolean;
  supportMaxDurationSeconds: number;
  supportAllowReadWrite: boolean;
}

export interface RoleRecord extends OwnedRecord {
  workspaceId: string;
  roleId: string;
  displayName: string;
  description: string;
  builtin: boolean;
  administrative: boolean;
  /** Sorted, without duplicates. */
  permissions: string[];
}

export interface InvitationRecord {
  invitationId?: string;
  state: InvitationState;
  sender: string;
  sentAt: string;
  expiresAt: string;
  /** Written by the application when the invitation is accepted. */
  respondedAt?: string;
  sentCount: number;
  resendRequested: number;
}

export interface MemberRecord extends OwnedRecord {
  memberId?: string;
  workspaceId: string;
  email: string;
  emailNormalized: string;
  displayName: string;
  phone?: string;
  /** Undefined: a legacy member with no role. */
  roleId?: string;
  loginType: string;
  expiresAt?: string;
  state: MemberState;
  /** Written by the application. */
  acceptedAt?: string;
  /** Written by the application. */
  lastLoginAt?: string;
  invitation?: InvitationRecord;
  /** When the row was first written (observed rows only): admin tenure. */
  createdAt?: string;
}

export interface SupportGrantRecord extends OwnedRecord {
  grantId?: string;
  workspaceId: string;
  name: string;
  granteeType: string;
  agents: string[];
  scopeType: string;
  scopeMemberEmail?: string;
  accessLevel: string;
  startsAt: string;
  endsAt: string;
  reason: string;
  ticket?: string;
  state: SupportGrantState;
  revokedAt?: string;
  /** Why it was revoked (with revokedAt). */
  revokedCause?: RevocationCause;
}

/** Declared: spec.revoked was set. SupportAccessOff: its Workspace switched vendor support access off. */
export type RevocationCause = 'Declared' | 'SupportAccessOff';

// Keys of rows in the store, as the planner indexes them.
export const roleKey = (workspaceId: string, roleId: string) => `${workspaceId}\u0000${roleId}`;
export const memberKey = (workspaceId: string, emailNormalized: string) => `${workspaceId}\u0000${emailNormalized}`;
export const grantKey = (workspaceId: string, name: string) => `${workspaceId}\u0000${name}`;
export { normalizeEmail } from '../model/text.js';

/** `Kind/namespace/name`: one object, as a map key. */
export function refKey(ref: { kind: string; namespace: string; name: string }): string {
  return `${ref.kind}/${ref.namespace}/${ref.name}`;
}

export function sourceRef(source: SourceRecord): ObjectRef {
  return { kind: source.kind, namespace: source.namespace, name: source.name };
}

/** Whether a row is owned by the object `ref` names. */
export function ownedBy(record: OwnedRecord, ref: { kind: string; namespace: string; name: string }): boolean {
  const s = record.source;
  return s !== undefined && s.kind === ref.kind && s.namespace === ref.namespace && s.name === ref.name;
}

/** SHA-256 over the field values in their fixed order (the field functions below list them). */
function digest(fields: Record<string, unknown>): string {
  return hash('sha256', JSON.stringify(Object.values(fields)), 'hex');
}

// The columns Gatehouse manages, per table. State columns (member state,
// grant state) are left out: they move with time and the application, and the
// planner compares them separately.
export function workspaceFields(r: WorkspaceRecord): Record<string, unknown> {
  return {
    displayName: r.displayName,
    twoFactor: r.twoFactor,
    ssoEnforced: r.ssoEnforced,
    samlIdpEntityId: r.samlIdpEntityId ?? null,
    samlSsoUrl: r.samlSsoUrl ?? null,
    samlSigningCertificate: r.samlSigningCertificate ?? null,
    ipAllowlist: r.ipAllowlist,
    idleSessionTimeoutSeconds: r.idleSessionTimeoutSeconds,
    invitationLifetimeSeconds: r.invitationLifetimeSeconds,
    maxTemporaryAccessSeconds: r.maxTemporaryAccessSeconds ?? null,
    adminsMin: r.adminsMin,
    adminsMax: r.adminsMax,
    accessReviewIntervalSeconds: r.accessReviewIntervalSeconds,
    inactivityThresholdSeconds: r.inactivityThresholdSeconds,
    supportAllowed: r.supportAllowed,
    supportMaxDurationSeconds: r.supportMaxDurationSeconds,
    supportAllowReadWrite: r.supportAllowReadWrite,
    deletionPolicy: r.deletionPolicy,
  };
}

export function roleFields(r: RoleRecord): Record<string, unknown> {
  return {
    displayName: r.displayName,
    description: r.description,
    builtin: r.builtin,
    administrative: r.administrative,
    permissions: r.permissions,
    deletionPolicy: r.deletionPolicy,
  };
}

export function memberFields(r: MemberRecord): Record<string, unknown> {
  return {
    email: r.email,
    displayName: r.displayName,
    phone: r.phone ?? null,
    roleId: r.roleId ?? null,
    loginType: r.loginType,
    expiresAt: r.expiresAt ?? null,
    deletionPolicy: r.deletionPolicy,
  };
}

export function grantFields(r: SupportGrantRecord): Record<string, unknown> {
  return {
    granteeType: r.granteeType,
    agents: r.agents,
    scopeType: r.scopeType,
    scopeMemberEmail: r.scopeMemberEmail ?? null,
    accessLevel: r.accessLevel,
    startsAt: r.startsAt,
    endsAt: r.endsAt,
    reason: r.reason,
    ticket: r.ticket ?? null,
    deletionPolicy: r.deletionPolicy,
  };
}

export const workspaceDigest = (r: WorkspaceRecord) => digest(workspaceFields(r));
export const roleDigest = (r: RoleRecord) => digest(roleFields(r));
// Same values, same order as memberFields, without building the object (called per member).
export const memberDigest = (r: MemberRecord) =>
  hash(
    'sha256',
    JSON.stringify([r.email, r.displayName, r.phone ?? null, r.roleId ?? null, r.loginType, r.expiresAt ?? null, r.deletionPolicy]),
    'hex',
  );
export const grantDigest = (r: SupportGrantRecord) => digest(grantFields(r));

export interface FieldChange {
  field: string;
  from: unknown;
  to: unknown;
}

/** Fields whose values differ, in the order `to` lists them. */
export function diffFields(from: Record<string, unknown>, to: Record<string, unknown>): FieldChange[] {
  const changes: FieldChange[] = [];
  for (const [field, value] of Object.entries(to)) {
    const before = from[field] ?? null;
    const after = value ?? null;
    if (before === after) continue;
    if (typeof before !== 'object' || typeof after !== 'object' || !sameStructured(before, after)) {
      changes.push({ field, from: before, to: after });
    }
  }
  return changes;
}

const isStringArray = (value: unknown): value is string[] => Array.isArray(value) && value.every((v) => typeof v === 'string');

/** Equal as canonical JSON; lists of strings (IP allowlists, permissions, agents) compared without writing any. */
function sameStructured(a: object | null, b: object | null): boolean {
  if (isStringArray(a) && isStringArray(b)) return a.length === b.length && a.every((v, i) => v === b[i]);
  return canonicalJson(a) === canonicalJson(b);
}

// ---- Lifecycle: what a record's state is at an instant (exact boundaries: at == end means ended).

/** Whether access that ends at `end` has ended at `at`. */
export function hasEnded(end: string | undefined, at: string): boolean {
  return end !== undefined && end <= at;
}

export type MemberStateReason = 'AccessExpired' | 'InvitationExpired' | 'Accepted' | 'Invited';

/** A member's state at `at`, from its times and what the application recorded. */
export function memberStateAt(
  member: Pick<MemberRecord, 'expiresAt' | 'acceptedAt' | 'invitation'>,
  at: string,
): { state: MemberState; why: MemberStateReason } {
  if (hasEnded(member.expiresAt, at)) return { state: 'Expired', why: 'AccessExpired' };
  if (member.acceptedAt !== undefined || member.invitation?.state === 'Completed') return { state: 'Active', why: 'Accepted' };
  const invitation = member.invitation;
  if (invitation !== undefined && (invitation.state === 'Expired' || hasEnded(invitation.expiresAt, at))) {
    return { state: 'Expired', why: 'InvitationExpired' };
  }
  return { state: 'Invited', why: 'Invited' };
}

/** A support grant's state at `at`. */
export function grantStateAt(
  grant: Pick<SupportGrantRecord, 'startsAt' | 'endsAt' | 'revokedAt'>,
  at: string,
): SupportGrantState {
  if (grant.revokedAt !== undefined) return 'Revoked';
  if (hasEnded(grant.endsAt, at)) return 'Expired';
  if (at < grant.startsAt) return 'Pending';
  return 'Active';
}
