// The contract of the rules engine. Rules are pure: the object, a read-only
// view of the others and an instant in, violations out. The same code runs in
// `gatehouse validate`, the admission webhook and the reconciler.
import type { GatehouseObject, Kind, ObjectOfKind, ObjectRef } from '../model/kinds.js';
import type { Member } from '../model/member.js';
import type { Profile } from '../model/profile.js';

export type Severity = 'error' | 'warning';

export interface Violation {
  /** Stable CamelCase id; also the condition reason and event reason for it. */
  ruleId: string;
  severity: Severity;
  object: ObjectRef;
  /** Field path in Kubernetes style (spec.permissions[2]); empty for the whole object. */
  field: string;
  /** What is wrong and what to do about it. */
  message: string;
}

/**
 * A read-only view of the declared objects other than the one being checked.
 * Objects reached through it are treated as immutable (replace an object to
 * change it, as informer caches do): the rules remember per object whether it
 * passed its schema.
 */
export interface ObjectIndex {
  list<K extends Kind>(kind: K, namespace?: string): readonly ObjectOfKind<K>[];
  get<K extends Kind>(kind: K, namespace: string, name: string): ObjectOfKind<K> | undefined;
  /**
   * Optional fast path: the objects of a kind in `namespace` whose
   * spec.workspaceRef.name is `workspace`. Without it, rules filter `list`.
   */
  listInWorkspace?<K extends WorkspaceScopedKind>(kind: K, namespace: string, workspace: string): readonly ObjectOfKind<K>[];
  /**
   * Optional views a long-lived index keeps up to date (LiveIndex), so a check
   * reads a workspace's members by email or by role without scanning the
   * workspace. Both hold only Members that pass their schema; emails are
   * normalized (normalizeEmail), and members without spec.role are under
   * `undefined`. Without them, rules derive the same from listInWorkspace.
   */
  membersByEmail?(namespace: string, workspace: string): ReadonlyMap<string, readonly Member[]>;
  membersByRole?(namespace: string, workspace: string): ReadonlyMap<string | undefined, ReadonlySet<Member>>;
}

/** Kinds that belong to one Workspace through spec.workspaceRef. */
export type WorkspaceScopedKind = Exclude<Kind, 'Workspace'>;

export type Operation = 'CREATE' | 'UPDATE' | 'DELETE';

/**
 * What the identity store recorded for one declared object when it was last
 * applied: the rules compare a declaration with it the way admission compares
 * an UPDATE with the old object, so `validate --store`, `plan`, `apply` and the
 * reconciler refuse what the webhook refuses.
 */
export interface RecordedObject {
  /** The workspace id its row has (a Workspace's own; the one a Role, Member or grant was written under). */
  workspaceId?: string;
  /** Workspace: whether it enforces SSO. */
  ssoEnforced?: boolean;
  /** Member: the email and name its row has. */
  email?: string;
  displayName?: string;
  /** Member: the resend counter the store has acted on. */
  invitationResend?: number;
  /** SupportGrant: when the store's window starts (its real start once passed). */
  startsAt?: string;
  /** SupportGrant: revoked because its declaration said spec.revoked: true. */
  revokedByDeclaration?: boolean;
  /** When the row was first written: ranks admins by tenure where no creationTimestamp exists. */
  since?: string;
}

/** The identity store's record of declared objects, by object. */
export interface RecordedState {
  /** The object's row as recorded; undefined when the store holds none (a new object). */
  of(ref: ObjectRef): RecordedObject | undefined;
}

export interface RuleContext {
  /** The instant time rules are evaluated at. */
  at: Date;
  profile: Profile;
  index: ObjectIndex;
  /**
   * The change being checked, at admission. Absent when declared state is
   * checked as a whole (validate, reconcile): then a time rule about the past
   * warns instead of failing, since expired objects may stay declared.
   */
  operation?: Operation;
  /** The object before an UPDATE or DELETE. */
  oldObject?: GatehouseObject;
  /**
   * What the identity store holds for the declared objects (plan, apply, the
   * reconciler, `validate --store`). With it, declared state is checked as a
   * change from what was applied: immutable fields, revocation, resend, the
   * real start of a grant, admin tenure.
   */
  recorded?: RecordedState;
}
