// The escalation check: whoever gives a role, defines a role's permissions or
// lets the vendor's support team in through the API must be allowed to by
// RBAC, the way Kubernetes uses `bind` and `escalate` for its own roles. The
// webhook asks the API server with a SubjectAccessReview for a custom verb:
//
//   assign   roles.gatehouse.dev  name = the role given (default role id or Role name;
//                                 gatehouse:legacy for a Member with no role)
//   escalate roles.gatehouse.dev  name = the Role whose permissions are created or added to
//   grant    supportgrants.gatehouse.dev  name = the access level (ReadOnly or ReadWrite)
//
// Deciding which checks a change needs is pure; asking is behind Authorizer.
import type { KubeConfig } from '@kubernetes/client-node';
import { AuthorizationV1Api } from '@kubernetes/client-node';
import { API_GROUP } from '../../model/common.js';
import type { GatehouseObject } from '../../model/kinds.js';
import { supportAccessLevel } from '../../model/policy.js';
import { instantMs } from '../../model/time.js';
import type { Member } from '../../model/member.js';
import type { Role } from '../../model/role.js';
import type { SupportGrant } from '../../model/support-grant.js';
import type { Clock } from '../../util/clock.js';
import { systemClock } from '../../util/clock.js';
import type { UserInfo } from './admission.js';

export const ASSIGN_VERB = 'assign';
export const ESCALATE_VERB = 'escalate';
export const GRANT_VERB = 'grant';
/** The resource name `assign` is checked on for a Member with no role (the legacy permission set). Cannot clash with a Role's name. */
export const LEGACY_ROLE_NAME = 'gatehouse:legacy';

/** Rule ids of the escalation check, used as admission causes like the rules engine's ids. */
export const PRIVILEGE_ESCALATION = 'PrivilegeEscalation';
export const ESCALATION_CHECK_FAILED = 'EscalationCheckFailed';

export type AccessVerb = typeof ASSIGN_VERB | typeof ESCALATE_VERB | typeof GRANT_VERB;

/** One thing the requester must be allowed to do for the change to pass. */
export interface AccessCheck {
  verb: AccessVerb;
  resource: 'roles' | 'supportgrants';
  namespace: string;
  name: string;
  /** The field of the object the check is about, for the denial's cause. */
  field: string;
  /** What the change does, for people: 'give role "admin"'. */
  action: string;
}

function roleOfMember(member: Member): string {
  const role = member.spec?.role;
  return typeof role === 'string' && role !== '' ? role : LEGACY_ROLE_NAME;
}

function permissionsOf(role: Role): string[] {
  const permissions = role.spec?.permissions;
  return Array.isArray(permissions) ? permissions.filter((p): p is string => typeof p === 'string') : [];
}

/**
 * How an UPDATE that keeps a Member's role gives it more access: temporary
 * access made permanent, its end moved later (an ended member revived), or
 * the invitation sent again. Undefined when it gives nothing more.
 */
function accessExtension(before: Member, after: Member): { field: string; action: string } | undefined {
  const was = before.spec?.expiresAt;
  const now = after.spec?.expiresAt;
  if (was !== undefined && now === undefined) return { field: 'spec.expiresAt', action: 'make temporary access permanent' };
  if (was !== undefined && now !== undefined && was !== now) {
    const wasMs = instantMs(was);
    const nowMs = instantMs(now);
    // An unreadable time is refused by the schema; treat it as an extension here so nothing slips through.
    if (Number.isNaN(wasMs) || Number.isNaN(nowMs) || nowMs > wasMs) return { field: 'spec.expiresAt', action: `extend access until ${now}` };
  }
  const resendBefore = before.spec?.invitation?.resend ?? 0;
  const resendAfter = after.spec?.invitation?.resend ?? 0;
  if (resendAfter > resendBefore) return { field: 'spec.invitation.resend', action: 'send the invitation again' };
  return undefined;
}

/** The spec fields of a SupportGrant that decide who gets in, how far and for how long. */
const GRANT_ACCESS_FIELDS = ['grantee', 'scope', 'accessLevel', 'startsAt', 'duration', 'endsAt'] as const;

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
}

/**
 * The checks a CREATE or UPDATE of `object` needs (none for DELETE: taking
 * access away escalates nothing). An UPDATE is checked only where it changes
 * what is given: a new role, permissions added, a grant's reach or window.
 */
export function accessChecksFor(
  operation: 'CREATE' | 'UPDATE' | 'DELETE',
  object: GatehouseObject,
  oldObject?: GatehouseObject,
): AccessCheck[] {
  if (operation === 'DELETE') return [];
  const namespace = object.metadata?.namespace ?? 'default';
  const previous = operation === 'UPDATE' && oldObject?.kind === object.kind ? oldObject : undefined;
  switch (object.kind) {
    case 'Member': {
      const role = roleOfMember(object);
      if (previous !== undefined && roleOfMember(previous as Member) === role) {
        // Same role, but more time with it is giving that role again.
        const extension = accessExtension(previous as Member, object);
        if (extension === undefined) return [];
        return [{ verb: ASSIGN_VERB, resource: 'roles', namespace, name: role, field: extension.field, action: `${extension.action} with role "${role}"` }];
      }
      const action = role === LEGACY_ROLE_NAME ? 'leave the member without a role (the legacy permission set)' : `give role "${role}"`;
      return [{ verb: ASSIGN_VERB, resource: 'roles', namespace, name: role, field: 'spec.role', action }];
    }
    case 'Role': {
      const name = object.metadata?.name ?? '';
      if (previous !== undefined) {
        const before = new Set(permissionsOf(previous as Role));
        const added = permissionsOf(object).filter((p) => !before.has(p));
        if (added.length === 0) return [];
        return [{ verb: ESCALATE_VERB, resource: 'roles', namespace, name, field: 'spec.permissions', action: `add permissions ${added.join(', ')} to role "${name}"` }];
      }
      return [{ verb: ESCALATE_VERB, resource: 'roles', namespace, name, field: 'spec.permissions', action: `define the permissions of role "${name}"` }];
    }
    case 'SupportGrant': {
      // Revoking only takes access away.
      if (object.spec?.revoked === true) return [];
      if (previous !== undefined) {
        const before = previous as SupportGrant;
        if (GRANT_ACCESS_FIELDS.every((field) => sameJson(object.spec?.[field], before.spec?.[field]))) return [];
      }
      const level = supportAccessLevel(object);
      return [{ verb: GRANT_VERB, resource: 'supportgrants', namespace, name: level, field: 'spec.accessLevel', action: `grant ${level} vendor support access` }];
    }
    default:
      return [];
  }
}

/** The RBAC rule that would allow `check`, as YAML flow text for a message. */
export function rbacRuleFor(check: AccessCheck): string {
  return `{apiGroups: ["${API_GROUP}"], resources: ["${check.resource}"], verbs: ["${check.verb}"], resourceNames: ["${check.name}"]}`;
}

export interface AccessAnswer {
  allowed: boolean;
  /** The authorizer's explanation, if it gave one. */
  reason?: string;
}

/** Answers whether `user` may do `check`. Throws when it cannot tell (the webhook then denies). */
export interface Authorizer {
  review(user: UserInfo, check: AccessCheck): Promise<AccessAnswer>;
}

/** An AccessCheck could not be answered (API server unreachable, timed out, refused the review). */
export class AuthorizationError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'AuthorizationError';
  }
}

export const DEFAULT_SUBJECT_ACCESS_REVIEW_TIMEOUT_MS = 2_000;

/**
 * Asks the API server with a SubjectAccessReview (authorization.k8s.io/v1).
 * The timeout stays well inside the webhook's own (5 s) so a slow API server
 * gives a clear denial rather than the API server's "context deadline exceeded".
 */
export function subjectAccessReviewAuthorizer(
  kubeConfig: KubeConfig,
  options: { timeoutMs?: number; clock?: Clock } = {},
): Authorizer {
  const api = kubeConfig.makeApiClient(AuthorizationV1Api);
  const timeoutMs = options.timeoutMs ?? DEFAULT_SUBJECT_ACCESS_REVIEW_TIMEOUT_MS;
  const clock = options.clock ?? systemClock;
  return {
    async review(user, check) {
      const call = api.createSubjectAccessReview({
        body: {
          apiVersion: 'authorization.k8s.io/v1',
          kind: 'SubjectAccessReview',
          spec: {
            ...(user.username !== undefined ? { user: user.username } : {}),
            ...(user.uid !== undefined ? { uid: user.uid } : {}),
            ...(user.groups !== undefined ? { groups: user.groups } : {}),
            ...(user.extra !== undefined ? { extra: user.extra } : {}),
            resourceAttributes: {
              group: API_GROUP,
              resource: check.resource,
              verb: check.verb,
              namespace: check.namespace,
              name: check.name,
            },
          },
        },
      });
      let cancel = () => {};
      const timeout = new Promise<never>((_, reject) => {
        cancel = clock.schedule(timeoutMs, () =>
          reject(new AuthorizationError(`the API server did not answer the SubjectAccessReview within ${timeoutMs} ms`)),
        );
      });
      try {
        const review = await Promise.race([call, timeout]);
        const status = review.status;
        if (status?.allowed === true) return { allowed: true };
        const reason = [status?.reason, status?.evaluationError].filter((s) => s !== undefined && s !== '').join('; ');
        return { allowed: false, ...(reason !== '' ? { reason } : {}) };
      } catch (err) {
        if (err instanceof AuthorizationError) throw err;
        throw new AuthorizationError('the SubjectAccessReview failed', { cause: err });
      } finally {
        cancel();
        call.catch(() => undefined);
      }
    },
  };
}

export const DEFAULT_AUTHORIZATION_CACHE_TTL_MS = 10_000;
const DEFAULT_AUTHORIZATION_CACHE_SIZE = 10_000;

/**
 * Remembers allowed answers for a short time, keyed by the whole identity and
 * the check, so a burst of applies (a GitOps sync of many Members) asks the
 * API server once per role. Denials are not remembered: a RoleBinding added
 * to fix one takes effect on the next try.
 */
export function cachingAuthorizer(
  inner: Authorizer,
  options: { clock?: Clock; ttlMs?: number; maxEntries?: number } = {},
): Authorizer & { readonly size: number } {
  const clock = options.clock ?? systemClock;
  const ttlMs = options.ttlMs ?? DEFAULT_AUTHORIZATION_CACHE_TTL_MS;
  const maxEntries = options.maxEntries ?? DEFAULT_AUTHORIZATION_CACHE_SIZE;
  const allowedUntil = new Map<string, number>();
  return {
    get size() {
      return allowedUntil.size;
    },
    async review(user, check) {
      const key = JSON.stringify([
        user.username ?? '',
        user.uid ?? '',
        [...(user.groups ?? [])].sort(),
        Object.entries(user.extra ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
        check.verb,
        check.resource,
        check.namespace,
        check.name,
      ]);
      const now = clock.now().getTime();
      const until = allowedUntil.get(key);
      if (until !== undefined && until > now) return { allowed: true };
      if (until !== undefined) allowedUntil.delete(key);
      const answer = await inner.review(user, check);
      if (answer.allowed) {
        if (allowedUntil.size >= maxEntries) {
          for (const [k, t] of allowedUntil) if (t <= now) allowedUntil.delete(k);
          // Still full: drop the oldest entries (Map keeps insertion order).
          for (const k of allowedUntil.keys()) {
            if (allowedUntil.size < maxEntries) break;
            allowedUntil.delete(k);
          }
        }
        allowedUntil.set(key, now + ttlMs);
      }
      return answer;
    },
  };
}
