// The access review (seed 001: audit every user's access at least every two
// weeks) as a pure function of what the store holds at one instant: who has
// not logged in for too long, invitations never accepted, members whose
// access ended but who are still declared, more admins than allowed, support
// grants and what was done under them, and privileges not used in the period
// with the smallest role that would do.

export const REVIEW_SCHEMA_VERSION = 'gatehouse.dev/review/v1';

export interface ReviewWorkspaceInput {
  workspaceId: string;
  displayName: string;
  adminsMax: number;
  accessReviewIntervalMs: number;
  inactivityThresholdMs: number;
  /** role id -> permissions, default and custom roles alike. */
  roles: ReadonlyMap<string, { displayName: string; builtin: boolean; administrative: boolean; permissions: ReadonlySet<string> }>;
  /** Permissions a legacy member (no role) has. */
  legacyPermissions: ReadonlySet<string>;
  legacyIsAdmin: boolean;
  members: readonly ReviewMemberInput[];
  grants: readonly ReviewGrantInput[];
}

export interface ReviewMemberInput {
  email: string;
  roleId: string | null;
  /** Epoch ms. */
  expiresAt?: number;
  acceptedAt?: number;
  lastLoginAt?: number;
  invitation?: { state: string; sentAt: number; expiresAt: number };
  /** Still declared (managed by Gatehouse), so deleting it means editing Git. */
  declared: boolean;
  source?: ReviewSource;
  /** permission -> last allowed decision (epoch ms), from recorded decisions. */
  used: ReadonlyMap<string, number>;
}

export interface ReviewSource {
  kind: string;
  namespace?: string;
  name: string;
  file?: string;
  line?: number;
  /** The line of spec.expiresAt, where there is one. */
  expiresAtLine?: number;
}

export interface ReviewGrantInput {
  name: string;
  grantee: string;
  scope: string;
  accessLevel: string;
  startsAt: number;
  endsAt: number;
  revokedAt?: number;
  reason: string;
  ticket?: string;
  decisions: { allowed: number; denied: number };
}

export type FindingKind = 'inactive-member' | 'invitation-not-accepted' | 'expired-still-declared' | 'too-many-admins' | 'support-grant' | 'unused-privileges';

export interface WorkspaceReview {
  workspaceId: string;
  displayName: string;
  period: { from: string; to: string };
  inactiveMembers: Array<{ email: string; role: string | null; lastActivity: string | null; inactiveDays: number }>;
  invitationsNotAccepted: Array<{ email: string; role: string | null; sentAt: string; expiresAt: string; expired: boolean }>;
  expiredStillDeclared: Array<{ email: string; expiredAt: string; source: ReviewSource | null }>;
  admins: { count: number; max: number; overLimit: boolean; members: string[] };
  supportGrants: Array<{
    name: string;
    grantee: string;
    scope: string;
    accessLevel: string;
    state: 'Pending' | 'Active' | 'Expired' | 'Revoked';
    startsAt: string;
    endsAt: string;
    revokedAt: string | null;
    reason: string;
    ticket: string | null;
    decisions: { allowed: number; denied: number };
  }>;
  unusedPrivileges: Array<{ email: string; role: string | null; used: string[]; unused: string[]; suggestedRole: string | null }>;
  /** Findings that ask for a change (support grants listed for the record do not). */
  findings: number;
}

export interface ReviewReport {
  apiVersion: typeof REVIEW_SCHEMA_VERSION;
  at: string;
  workspaces: WorkspaceReview[];
  totals: Record<Exclude<FindingKind, 'support-grant'>, number> & { supportGrants: number };
}

const DAY = 86_400_000;
const iso = (ms: number) => new Date(ms).toISOString();

function permissionsOf(ws: ReviewWorkspaceInput, roleId: string | null): ReadonlySet<string> {
  return roleId === null ? ws.legacyPermissions : (ws.roles.get(roleId)?.permissions ?? new Set());
}

function isAdmin(ws: ReviewWorkspaceInput, roleId: string | null): boolean {
  return roleId === null ? ws.legacyIsAdmin : (ws.roles.get(roleId)?.administrative ?? false);
}

/**
 * The smallest role (fewest permissions; default roles first on a tie, then
 * by id) that has every used permission and fewer than the current role.
 */
export function suggestSmallerRole(ws: ReviewWorkspaceInput, current: ReadonlySet<string>, used: ReadonlySet<string>): string | null {
  let best: { id: string; size: number; builtin: boolean } | undefined;
  for (const [id, role] of ws.roles) {
    if (role.permissions.size >= current.size) continue;
    if (![...used].every((p) => role.permissions.has(p))) continue;
    const better =
      best === undefined ||
      role.permissions.size < best.size ||
      (role.permissions.size === best.size && (role.builtin && !best.builtin || (role.builtin === best.builtin && id < best.id)));
    if (better) best = { id, size: role.permissions.size, builtin: role.builtin };
  }
  return best?.id ?? null;
}

export function reviewWorkspace(ws: ReviewWorkspaceInput, at: number): WorkspaceReview {
  const from = at - ws.accessReviewIntervalMs;
  const review: WorkspaceReview = {
    workspaceId: ws.workspaceId,
    displayName: ws.displayName,
    period: { from: iso(from), to: iso(at) },
    inactiveMembers: [],
    invitationsNotAccepted: [],
    expiredStillDeclared: [],
    admins: { count: 0, max: ws.adminsMax, overLimit: false, members: [] },
    supportGrants: [],
    unusedPrivileges: [],
    findings: 0,
  };
  const members = [...ws.members].sort((a, b) => a.email.localeCompare(b.email));
  for (const m of members) {
    const expired = m.expiresAt !== undefined && m.expiresAt <= at;
    if (expired) {
      if (m.declared) review.expiredStillDeclared.push({ email: m.email, expiredAt: iso(m.expiresAt as number), source: m.source ?? null });
      continue;
    }
    if (m.acceptedAt === undefined) {
      if (m.invitation !== undefined) {
        review.invitationsNotAccepted.push({
          email: m.email,
          role: m.roleId,
          sentAt: iso(m.invitation.sentAt),
          expiresAt: iso(m.invitation.expiresAt),
          expired: m.invitation.expiresAt <= at,
        });
      }
      continue;
    }
    if (isAdmin(ws, m.roleId)) review.admins.members.push(m.email);
    const lastActivity = m.lastLoginAt ?? m.acceptedAt;
    if (at - lastActivity > ws.inactivityThresholdMs) {
      review.inactiveMembers.push({ email: m.email, role: m.roleId, lastActivity: m.lastLoginAt !== undefined ? iso(m.lastLoginAt) : null, inactiveDays: Math.floor((at - lastActivity) / DAY) });
      continue;
    }
    // Privileges: only judged for a member active for the whole period, so a newcomer is not told to shrink.
    if (m.acceptedAt > from) continue;
    const held = permissionsOf(ws, m.roleId);
    const used = new Set([...m.used].filter(([p, last]) => last >= from && held.has(p)).map(([p]) => p));
    const unused = [...held].filter((p) => !used.has(p)).sort();
    if (unused.length > 0 && used.size > 0) {
      review.unusedPrivileges.push({ email: m.email, role: m.roleId, used: [...used].sort(), unused, suggestedRole: suggestSmallerRole(ws, held, used) });
    }
  }
  review.admins.count = review.admins.members.length;
  review.admins.overLimit = review.admins.count > ws.adminsMax;
  for (const g of [...ws.grants].sort((a, b) => a.startsAt - b.startsAt || a.name.localeCompare(b.name))) {
    const endedBeforePeriod = (g.revokedAt ?? g.endsAt) < from;
    if (endedBeforePeriod && g.decisions.allowed + g.decisions.denied === 0) continue;
    const state = g.revokedAt !== undefined ? 'Revoked' : g.endsAt <= at ? 'Expired' : g.startsAt > at ? 'Pending' : 'Active';
    review.supportGrants.push({
      name: g.name,
      grantee: g.grantee,
      scope: g.scope,
      accessLevel: g.accessLevel,
      state,
      startsAt: iso(g.startsAt),
      endsAt: iso(g.endsAt),
      revokedAt: g.revokedAt !== undefined ? iso(g.revokedAt) : null,
      reason: g.reason,
      ticket: g.ticket ?? null,
      decisions: g.decisions,
    });
  }
  review.findings =
    review.inactiveMembers.length +
    review.invitationsNotAccepted.length +
    review.expiredStillDeclared.length +
    (review.admins.overLimit ? 1 : 0) +
    review.unusedPrivileges.filter((u) => u.suggestedRole !== null).length;
  return review;
}

export function reviewAccess(workspaces: readonly ReviewWorkspaceInput[], at: number): ReviewReport {
  const reviews = [...workspaces].sort((a, b) => a.workspaceId.localeCompare(b.workspaceId)).map((ws) => reviewWorkspace(ws, at));
  const sum = (f: (w: WorkspaceReview) => number) => reviews.reduce((n, w) => n + f(w), 0);
  return {
    apiVersion: REVIEW_SCHEMA_VERSION,
    at: iso(at),
    workspaces: reviews,
    totals: {
      'inactive-member': sum((w) => w.inactiveMembers.length),
      'invitation-not-accepted': sum((w) => w.invitationsNotAccepted.length),
      'expired-still-declared': sum((w) => w.expiredStillDeclared.length),
      'too-many-admins': sum((w) => (w.admins.overLimit ? 1 : 0)),
      'unused-privileges': sum((w) => w.unusedPrivileges.length),
      supportGrants: sum((w) => w.supportGrants.length),
    },
  };
}

/** The counts per finding kind the operator keeps in Workspace status (status.accessReview). */
export interface ReviewCounts {
  findings: number;
  inactiveMembers: number;
  invitationsNotAccepted: number;
  expiredStillDeclared: number;
  tooManyAdmins: number;
  unusedPrivileges: number;
  supportGrants: number;
}

export function reviewCounts(review: WorkspaceReview): ReviewCounts {
  return {
    findings: review.findings,
    inactiveMembers: review.inactiveMembers.length,
    invitationsNotAccepted: review.invitationsNotAccepted.length,
    expiredStillDeclared: review.expiredStillDeclared.length,
    tooManyAdmins: review.admins.overLimit ? 1 : 0,
    // As counted in findings: only those a smaller role would serve.
    unusedPrivileges: review.unusedPrivileges.filter((u) => u.suggestedRole !== null).length,
    supportGrants: review.supportGrants.length,
  };
}
