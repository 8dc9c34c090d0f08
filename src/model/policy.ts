// Spec values with their defaults filled in, in the units code works with.
// The CRDs default the same fields on the API server; files read by
// `gatehouse validate` are not defaulted, so everything reads them through here.
import { tryParseDuration } from './duration.js';
import { parseInstant } from './time.js';
import type { AccessLevel } from './support-grant.js';
import type { LoginType, Member } from './member.js';
import type { SupportGrant } from './support-grant.js';
import type { TwoFactorPolicy, Workspace } from './workspace.js';
import type { DeletionPolicy } from './common.js';

export const DEFAULTS = {
  twoFactor: 'Required' as TwoFactorPolicy,
  idleSessionTimeout: '24h',
  invitationLifetime: '168h',
  adminsMin: 1,
  adminsMax: 1,
  accessReviewInterval: '336h',
  inactivityThreshold: '720h',
  supportAllowed: false,
  supportMaxDuration: '720h',
  supportAllowReadWrite: false,
  loginType: 'Local' as LoginType,
  accessLevel: 'ReadOnly' as AccessLevel,
  deletionPolicy: 'Delete' as DeletionPolicy,
} as const;

export interface WorkspacePolicy {
  workspaceId: string;
  displayName: string;
  twoFactor: TwoFactorPolicy;
  ssoEnforced: boolean;
  saml?: { idpEntityId: string; ssoUrl: string; signingCertificate: string };
  ipAllowlist: string[];
  idleSessionTimeoutMs: number;
  invitationLifetimeMs: number;
  /** undefined: no limit. */
  maxTemporaryAccessMs?: number;
  adminsMin: number;
  adminsMax: number;
  accessReviewIntervalMs: number;
  inactivityThresholdMs: number;
  supportAllowed: boolean;
  supportMaxDurationMs: number;
  supportAllowReadWrite: boolean;
}

/**
 * Resolves a Workspace's policy. Durations that do not parse fall back to the
 * default here; the schema check reports them, so they never reach the store.
 */
export function workspacePolicy(workspace: Workspace): WorkspacePolicy {
  const spec = workspace.spec;
  const duration = (value: string | undefined, fallback: string) =>
    tryParseDuration(value) ?? (tryParseDuration(fallback) as number);
  return {
    workspaceId: spec.workspaceId,
    displayName: spec.displayName,
    twoFactor: spec.twoFactor ?? DEFAULTS.twoFactor,
    ssoEnforced: spec.sso?.enforced ?? false,
    ...(spec.sso ? { saml: spec.sso.saml } : {}),
    ipAllowlist: spec.ipAllowlist ?? [],
    idleSessionTimeoutMs: duration(spec.idleSessionTimeout, DEFAULTS.idleSessionTimeout),
    invitationLifetimeMs: duration(spec.invitationLifetime, DEFAULTS.invitationLifetime),
    ...(spec.maxTemporaryAccess !== undefined && tryParseDuration(spec.maxTemporaryAccess) !== undefined
      ? { maxTemporaryAccessMs: tryParseDuration(spec.maxTemporaryAccess) as number }
      : {}),
    adminsMin: spec.admins?.min ?? DEFAULTS.adminsMin,
    adminsMax: spec.admins?.max ?? DEFAULTS.adminsMax,
    accessReviewIntervalMs: duration(spec.accessReview?.interval, DEFAULTS.accessReviewInterval),
    inactivityThresholdMs: duration(spec.accessReview?.inactivityThreshold, DEFAULTS.inactivityThreshold),
    supportAllowed: spec.supportAccess?.allowed ?? DEFAULTS.supportAllowed,
    supportMaxDurationMs: duration(spec.supportAccess?.maxDuration, DEFAULTS.supportMaxDuration),
    supportAllowReadWrite: spec.supportAccess?.allowReadWrite ?? DEFAULTS.supportAllowReadWrite,
  };
}

export function memberLoginType(member: Member): LoginType {
  return member.spec.loginType ?? DEFAULTS.loginType;
}

export function deletionPolicyOf(obj: { spec: { deletionPolicy?: DeletionPolicy } }): DeletionPolicy {
  return obj.spec.deletionPolicy ?? DEFAULTS.deletionPolicy;
}

/**
 * When a SupportGrant starts and ends. `createdAt` stands in for an absent
 * startsAt (the grant starts when it is created). Returns undefined when the
 * grant's times cannot be read (the schema check reports that).
 */
export function supportGrantWindow(
  grant: SupportGrant,
  createdAt: Date,
): { startsAt: Date; endsAt: Date } | undefined {
  const startsAt = grant.spec.startsAt !== undefined ? parseInstant(grant.spec.startsAt) : createdAt;
  if (startsAt === undefined || Number.isNaN(startsAt.getTime())) return undefined;
  let endsAt: Date | undefined;
  if (grant.spec.endsAt !== undefined) {
    endsAt = parseInstant(grant.spec.endsAt);
  } else {
    const ms = tryParseDuration(grant.spec.duration);
    if (ms === undefined) return undefined;
    endsAt = new Date(startsAt.getTime() + ms);
  }
  if (endsAt === undefined || Number.isNaN(endsAt.getTime())) return undefined;
  return { startsAt, endsAt };
}

export function supportAccessLevel(grant: SupportGrant): AccessLevel {
  return grant.spec.accessLevel ?? DEFAULTS.accessLevel;
}
