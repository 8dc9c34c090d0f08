// The engine's values: what it reads from the store, the plan it makes, and
// the state it reports per object.
import type { ObjectRef } from '../model/kinds.js';
import type { Violation } from '../rules/types.js';
import type {
  FieldChange,
  InvitationRecord,
  MemberRecord,
  PermissionRecord,
  RoleRecord,
  SourceRecord,
  SupportGrantRecord,
  WorkspaceRecord,
} from './records.js';

/** What a sync looks at: everything declared, or a few objects (the others are context). */
export type SyncScope = { type: 'all' } | { type: 'objects'; refs: ObjectRef[] };

/** The store's rows that a plan needs, keyed as in records.ts. */
export interface ObservedStore {
  /** True when every row of the store was read (scope all); removals rely on it. */
  complete: boolean;
  permissions: PermissionRecord[];
  workspaces: Map<string, WorkspaceRecord>;
  /** By roleKey(workspaceId, roleId); permissions included. */
  roles: Map<string, RoleRecord>;
  /** By memberKey(workspaceId, emailNormalized); invitation included. */
  members: Map<string, MemberRecord>;
  /** By grantKey(workspaceId, name). */
  grants: Map<string, SupportGrantRecord>;
  /** Members assigned to each role (roleKey) in the whole store, whatever their state. */
  roleUsage: Map<string, number>;
  /** Members of each workspace in the whole store. */
  memberCounts: Map<string, number>;
}

export type ActionTarget = 'catalog' | 'workspace' | 'role' | 'member' | 'supportGrant';

export type ActionOp =
  | 'create'
  | 'update'
  | 'delete'
  /** deletionPolicy Orphan: the row stays, no longer managed. */
  | 'forget'
  /** Member: the invitation is sent again (new token, new expiry). */
  | 'resend-invitation'
  /** Member: an invitation is sent where none exists (a row adopted or its invitation lost). */
  | 'issue-invitation'
  /** Member: the pending invitation's lifetime passed. */
  | 'expire-invitation'
  /** Member or support grant: access reached its end time. */
  | 'expire'
  /** Support grant: its start time came. */
  | 'activate'
  /** Support grant: spec.revoked was set. */
  | 'revoke';

interface ActionBase {
  op: ActionOp;
  /** The declared object the change comes from (a default role's is its Workspace). */
  object?: ObjectRef;
  source?: SourceRecord;
  workspaceId?: string;
  /** The row, for people: `acme`, `acme/viewer`, `acme/alice@example.com`. */
  key: string;
  /** Why, in words. */
  reason: string;
  /** The row was changed (or deleted) outside Gatehouse and this action restores it. */
  drift: boolean;
  /** Field by field, for updates and lifecycle changes. */
  changes: FieldChange[];
}

export type PlanAction =
  | (ActionBase & { target: 'catalog'; permissions: PermissionRecord[] })
  | (ActionBase & { target: 'workspace'; record: WorkspaceRecord; before?: WorkspaceRecord; cascade?: CascadeSummary })
  | (ActionBase & { target: 'role'; record: RoleRecord; before?: RoleRecord })
  | (ActionBase & { target: 'member'; record: MemberRecord; before?: MemberRecord; invitation?: InvitationRecord })
  | (ActionBase & { target: 'supportGrant'; record: SupportGrantRecord; before?: SupportGrantRecord });

/** What deleting a workspace takes with it. */
export interface CascadeSummary {
  members: number;
  roles: number;
  supportGrants: number;
}

export interface MassRemoval {
  workspaceId: string;
  removing: number;
  total: number;
  maxShare: number;
}

export type OutcomeStatus =
  /** Written by this plan (created, changed, lifecycle). */
  | 'changed'
  /** Already as declared. */
  | 'in-sync'
  /** Not written: rule errors. */
  | 'held'
  /** Not written: its row belongs to another object. */
  | 'conflict'
  /** Not written: its Workspace or Role is missing. */
  | 'blocked'
  /** Not in the store and not written: it ended before it was ever written. */
  | 'ended'
  /** Gone from the declaration: its rows are removed (or forgotten). */
  | 'removed'
  /** Gone from the declaration but its removal is refused (role in use). */
  | 'removal-blocked';

/** What the plan does with one in-scope object. */
export interface ObjectOutcome {
  ref: ObjectRef;
  status: OutcomeStatus;
  workspaceId?: string;
  reason?: string;
  message?: string;
  /** The object's row after the plan (observed where nothing is written). */
  record?: WorkspaceRecord | RoleRecord | MemberRecord | SupportGrantRecord;
  /** Whether that row is in the store after the plan. */
  inStore: boolean;
  /** When this object changes by itself next (an expiry, a start), after the plan's instant. */
  nextChangeAt?: string;
}

export interface Plan {
  at: string;
  actions: PlanAction[];
  outcomes: ObjectOutcome[];
  massRemovals: MassRemoval[];
  /** Earliest instant after `at` at which something in scope changes by itself (an expiry, a start). */
  nextChangeAt?: string;
  summary: PlanSummary;
}

/** Objects (not statements) to add, change and remove. */
export interface PlanSummary {
  add: number;
  change: number;
  remove: number;
}

export type ObjectPhase =
  | 'Pending'
  | 'Invited'
  | 'Active'
  | 'Expired'
  | 'Revoked'
  | 'Failed'
  | 'Ready'
  | 'Terminating';

/** The state of one declared object, for status and for people. */
export interface ObjectState {
  ref: ObjectRef;
  phase: ObjectPhase;
  /** CamelCase: a StateReasons value or a rule id. */
  reason: string;
  message: string;
  /** In effect in the store as declared. */
  ready: boolean;
  /** Whether the store holds a row for it. */
  inStore: boolean;
  workspaceId?: string;
  violations: Violation[];
  /** Member: role in effect. */
  role?: string;
  invitation?: {
    state: InvitationRecord['state'];
    sentAt?: string;
    expiresAt?: string;
    respondedAt?: string;
    sentCount?: number;
  };
  /** Member: temporary access end; SupportGrant: end. */
  expiresAt?: string;
  lastLoginAt?: string;
  startsAt?: string;
  endsAt?: string;
  revokedAt?: string;
  /** Workspace: members with access now (Invited or Active); Role: members assigned. */
  memberCount?: number;
  adminCount?: number;
  activeSupportGrants?: number;
}
