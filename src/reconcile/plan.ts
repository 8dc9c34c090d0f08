// The planner: declared objects + what the store holds + an instant -> the
// ordered actions that make the store match, each with its reason, and the
// next instant at which something changes by itself. Pure: no I/O, no clock,
// no randomness (ids and invitation tokens are made when a plan is applied).
//
// Order: catalog, workspaces, roles, members, support grants; then removals in
// reverse (grants, members, roles, workspaces), so foreign keys always hold.
import type { GatehouseObject, ObjectRef } from '../model/kinds.js';
import type { Member } from '../model/member.js';
import { workspacePolicy } from '../model/policy.js';
import type { Profile } from '../model/profile.js';
import type { Role } from '../model/role.js';
import type { SupportGrant } from '../model/support-grant.js';
import type { Workspace } from '../model/workspace.js';
import { canonicalJson } from './canonical-json.js';
import {
  builtinRoleRecords,
  grantRecordOf,
  iso,
  memberRecordOf,
  permissionRecords,
  resendRequestedOf,
  roleRecordOf,
  sourceOf,
  workspaceRecordOf,
} from './desired.js';
import {
  diffFields,
  grantDigest,
  grantFields,
  grantKey,
  grantStateAt,
  hasEnded,
  memberDigest,
  memberFields,
  memberKey,
  memberStateAt,
  normalizeEmail,
  ownedBy,
  refKey,
  roleDigest,
  roleFields,
  roleKey,
  sourceRef,
  workspaceDigest,
  workspaceFields,
  type FieldChange,
  type InvitationRecord,
  type MemberRecord,
  type OwnedRecord,
  type RevocationCause,
  type RoleRecord,
  type SourceRecord,
  type SupportGrantRecord,
  type WorkspaceRecord,
} from './records.js';
import { StateReasons } from './reasons.js';
import type {
  ActionOp,
  MassRemoval,
  ObjectOutcome,
  ObservedStore,
  Plan,
  PlanAction,
  PlanSummary,
  SyncScope,
} from './types.js';

export const DEFAULT_MAX_REMOVAL_SHARE = 0.25;

export interface PlanOptions {
  profile: Profile;
  /** Who applies the plan ('cli:alice', 'operator'); recorded as the invitations' sender. */
  actor: string;
  scope: SyncScope;
  /** Declared objects (refKey) not to write because of rule errors; their rows are kept as they are. */
  held?: ReadonlySet<string>;
  /** The file each object was read from (refKey -> path), recorded as its source. */
  files?: ReadonlyMap<string, string>;
  /**
   * Report removing more than `maxShare` of a workspace's members at once as a
   * mass removal. Default: 25% with scope all; off with scope objects, where
   * each removal is an explicit deletion of that object.
   */
  removalGuard?: { maxShare: number } | false;
}

const addMs = (at: string, ms: number) => new Date(new Date(at).getTime() + ms).toISOString();

/** An invitation sent at `at` lasts the workspace's lifetime, but never beyond the access it invites to. */
function invitationExpiry(at: string, lifetimeMs: number, accessEndsAt: string | undefined): string {
  const lifetimeEnd = addMs(at, lifetimeMs);
  return accessEndsAt !== undefined && accessEndsAt < lifetimeEnd ? accessEndsAt : lifetimeEnd;
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Sorts by a string key computed once per item (not once per comparison). */
function sortedBy<T>(items: Iterable<T>, key: (item: T) => string): T[] {
  return [...items]
    .map((item) => ({ item, key: key(item) }))
    .sort((a, b) => compareStrings(a.key, b.key))
    .map((entry) => entry.item);
}

/** Rows a source object owns, found through the rows' source columns. */
interface OwnedRows {
  workspaces: WorkspaceRecord[];
  roles: RoleRecord[];
  members: MemberRecord[];
  grants: SupportGrantRecord[];
}

class Planner {
  readonly at: string;
  readonly profile: Profile;
  readonly actions: PlanAction[] = [];
  readonly outcomes = new Map<string, ObjectOutcome>();
  readonly declared = new Map<string, GatehouseObject>();
  readonly inScope: ReadonlySet<string> | undefined;
  readonly held: ReadonlySet<string>;

  // Rows kept after the plan, by key.
  readonly claimedWorkspaces = new Set<string>();
  readonly claimedRoles = new Set<string>();
  readonly claimedMembers = new Set<string>();
  readonly claimedGrants = new Set<string>();
  /** Workspaces (by `namespace/name` of the Workspace object) whose row is usable by dependents, with its id. */
  readonly availableWorkspaces = new Map<string, string>();
  readonly createdRoles = new Set<string>();
  readonly deletedWorkspaces = new Set<string>();
  /** Observed members whose role assignment this plan changes or removes (for RoleInUse). */
  readonly releasedRoleAssignments = new Map<string, number>();
  readonly bySource = new Map<string, OwnedRows>();
  readonly nextChanges: string[] = [];

  constructor(
    desired: readonly GatehouseObject[],
    readonly observed: ObservedStore,
    at: Date,
    readonly options: PlanOptions,
  ) {
    this.at = iso(at);
    this.profile = options.profile;
    this.held = options.held ?? new Set();
    for (const object of desired) {
      const key = refKey(refOfObject(object));
      if (!this.declared.has(key)) this.declared.set(key, object);
    }
    this.inScope = options.scope.type === 'all' ? undefined : new Set(options.scope.refs.map(refKey));
    this.indexObservedBySource();
  }

  private indexObservedBySource(): void {
    const add = <K extends keyof OwnedRows>(kind: K, record: OwnedRows[K][number]) => {
      if (record.source === undefined) return;
      const key = refKey(record.source);
      let rows = this.bySource.get(key);
      if (rows === undefined) {
        rows = { workspaces: [], roles: [], members: [], grants: [] };
        this.bySource.set(key, rows);
      }
      (rows[kind] as Array<OwnedRows[K][number]>).push(record);
    };
    for (const r of this.observed.workspaces.values()) add('workspaces', r);
    for (const r of this.observed.roles.values()) add('roles', r);
    for (const r of this.observed.members.values()) add('members', r);
    for (const r of this.observed.grants.values()) add('grants', r);
  }

  isInScope(key: string): boolean {
    return this.inScope === undefined || this.inScope.has(key);
  }

  sourceFor(object: GatehouseObject): SourceRecord {
    const key = refKey(refOfObject(object));
    return sourceOf(object, this.options.files?.get(key));
  }

  /**
   * The in-scope declared objects of a kind that may be written. Held ones
   * (rule errors, possibly malformed) are reported here and keep their rows;
   * the caller never reads their spec.
   */
  declaredOfKind<K extends GatehouseObject['kind']>(kind: K): Array<Extract<GatehouseObject, { kind: K }>> {
    const out: Array<Extract<GatehouseObject, { kind: K }>> = [];
    for (const [key, object] of this.declared) {
      if (object.kind !== kind || !this.isInScope(key)) continue;
      if (this.held.has(key)) {
        const pick = (rows: OwnedRows) => (kind === 'Workspace' ? rows.workspaces[0] : kind === 'Role' ? rows.roles[0] : kind === 'Member' ? rows.members[0] : rows.grants[0]);
        this.notWritten(refOfObject(object), 'held', '', `the ${kind} has rule errors; its rows are left as they are`, pick);
        continue;
      }
      out.push(object as Extract<GatehouseObject, { kind: K }>);
    }
    return out;
  }

  workspaceObject(namespace: string, name: string): Workspace | undefined {
    const object = this.declared.get(refKey({ kind: 'Workspace', namespace, name }));
    return object?.kind === 'Workspace' ? object : undefined;
  }

  /** Marks the rows an object owns as kept (held, blocked or conflicting objects keep what they have). */
  claimOwnedRows(ref: ObjectRef): OwnedRows | undefined {
    const rows = this.bySource.get(refKey(ref));
    if (rows === undefined) return undefined;
    for (const r of rows.workspaces) this.claimedWorkspaces.add(r.workspaceId);
    for (const r of rows.roles) this.claimedRoles.add(roleKey(r.workspaceId, r.roleId));
    for (const r of rows.members) this.claimedMembers.add(memberKey(r.workspaceId, r.emailNormalized));
    for (const r of rows.grants) this.claimedGrants.add(grantKey(r.workspaceId, r.name));
    return rows;
  }

  setOutcome(outcome: ObjectOutcome): void {
    this.outcomes.set(refKey(outcome.ref), outcome);
  }

  /** An object that is not written this time: rule errors, a conflict, a missing dependency. */
  notWritten(
    ref: ObjectRef,
    status: 'held' | 'conflict' | 'blocked',
    reason: string,
    message: string,
    pick: (rows: OwnedRows) => ObjectOutcome['record'],
  ): void {
    const rows = this.claimOwnedRows(ref);
    const record = rows ? pick(rows) : undefined;
    this.setOutcome({
      ref,
      status,
      reason,
      message,
      inStore: record !== undefined,
      ...(record !== undefined ? { record, workspaceId: record.workspaceId } : {}),
    });
  }

  push(action: PlanAction): void {
    this.actions.push(action);
  }

  // ---------------------------------------------------------------- catalog

  planCatalog(): void {
    const desired = permissionRecords(this.profile);
    const observed = [...this.observed.permissions].sort((a, b) => compareStrings(a.permissionId, b.permissionId));
    if (canonicalJson(desired) === canonicalJson(observed)) return;
    const changes: FieldChange[] = [];
    if (observed.length === 0) {
      changes.push({ field: 'permissions', from: null, to: desired.length });
    } else {
      const before = new Map(observed.map((p) => [p.permissionId, canonicalJson(p)]));
      const after = new Map(desired.map((p) => [p.permissionId, canonicalJson(p)]));
      for (const [id, text] of after) {
        if (!before.has(id)) changes.push({ field: `permission ${id}`, from: null, to: 'added' });
        else if (before.get(id) !== text) changes.push({ field: `permission ${id}`, from: 'as before', to: 'changed' });
      }
      for (const id of before.keys()) if (!after.has(id)) changes.push({ field: `permission ${id}`, from: 'present', to: null });
    }
    this.push({
      target: 'catalog',
      op: 'update',
      key: 'permissions',
      reason: observed.length === 0 ? "the product profile's permission catalog is not in the store" : "the product profile's permission catalog changed",
      drift: false,
      changes,
      permissions: desired,
    });
  }

  // ------------------------------------------------------------- workspaces

  /** Default-role actions, planned with their workspace and run after all workspaces. */
  private readonly builtinRoleActions: PlanAction[] = [];

  planWorkspaces(): void {
    const workspaces = this.declaredOfKind('Workspace').sort((a, b) => compareStrings(a.spec.workspaceId, b.spec.workspaceId));
    for (const workspace of workspaces) this.planWorkspace(workspace);
    this.actions.push(...this.builtinRoleActions);
    // Out of scope (scoped sync): a Workspace whose row is in the store serves its dependents.
    if (this.inScope !== undefined) {
      for (const object of this.declared.values()) {
        if (object.kind !== 'Workspace') continue;
        const nsName = `${refOfObject(object).namespace}/${object.metadata.name}`;
        if (this.availableWorkspaces.has(nsName) || this.isInScope(refKey(refOfObject(object)))) continue;
        const workspaceId = (object.spec as { workspaceId?: unknown } | undefined)?.workspaceId;
        if (typeof workspaceId !== 'string') continue;
        const row = this.observed.workspaces.get(workspaceId);
        if (row !== undefined && (ownedBy(row, refOfObject(object)) || !row.managed)) {
          this.availableWorkspaces.set(nsName, row.workspaceId);
        }
      }
    }
  }

  private planWorkspace(workspace: Workspace): void {
    const ref = refOfObject(workspace);
    const desired = workspaceRecordOf(workspace, this.sourceFor(workspace));
    const observed = this.observed.workspaces.get(desired.workspaceId);
    if (observed !== undefined && this.ownedByAnother(observed, ref)) {
      this.notWritten(
        ref,
        'conflict',
        StateReasons.Conflict,
        `workspace id "${desired.workspaceId}" is already owned in the identity store by ${describeSource(observed.source as SourceRecord)}; you might have two Workspaces with the same spec.workspaceId: ${describeSource(observed.source as SourceRecord)} owns it`,
        (rows) => rows.workspaces[0],
      );
      return;
    }
    this.claimedWorkspaces.add(desired.workspaceId);
    this.availableWorkspaces.set(`${ref.namespace}/${workspace.metadata.name}`, desired.workspaceId);
    let changed = false;
    if (observed === undefined) {
      this.push({
        target: 'workspace',
        op: 'create',
        object: ref,
        source: desired.source,
        workspaceId: desired.workspaceId,
        key: desired.workspaceId,
        reason: 'declared and not in the identity store',
        drift: false,
        changes: [],
        record: desired,
      });
      changed = true;
    } else {
      const update = this.updateAction(observed, desired, workspaceFields, workspaceDigest);
      if (update !== undefined) {
        this.push({
          target: 'workspace',
          op: 'update',
          object: ref,
          source: desired.source,
          workspaceId: desired.workspaceId,
          key: desired.workspaceId,
          ...update,
          record: desired,
          before: observed,
        });
        changed = true;
      }
    }
    changed = this.planBuiltinRoles(desired, ref, observed === undefined) || changed;
    this.setOutcome({
      ref,
      status: changed ? 'changed' : 'in-sync',
      workspaceId: desired.workspaceId,
      record: desired,
      inStore: true,
    });
  }

  /** The profile's default roles in a workspace, created with it and restored if edited. */
  private planBuiltinRoles(workspace: WorkspaceRecord, ref: ObjectRef, creatingWorkspace: boolean): boolean {
    let changed = false;
    for (const desired of builtinRoleRecords(workspace, this.profile)) {
      const key = roleKey(desired.workspaceId, desired.roleId);
      this.claimedRoles.add(key);
      const observed = this.observed.roles.get(key);
      if (observed === undefined) {
        this.createdRoles.add(key);
        this.builtinRoleActions.push({
          target: 'role',
          op: 'create',
          object: ref,
          ...(desired.source ? { source: desired.source } : {}),
          workspaceId: desired.workspaceId,
          key: `${desired.workspaceId}/${desired.roleId}`,
          reason: creatingWorkspace
            ? `default role of the product profile, created with the workspace`
            : `default role of the product profile missing from the store (deleted outside Gatehouse)`,
          drift: !creatingWorkspace,
          changes: [],
          record: desired,
        });
        changed = true;
        continue;
      }
      const update = this.updateAction(observed, desired, roleFields, roleDigest);
      if (update !== undefined) {
        this.builtinRoleActions.push({
          target: 'role',
          op: 'update',
          object: ref,
          ...(desired.source ? { source: desired.source } : {}),
          workspaceId: desired.workspaceId,
          key: `${desired.workspaceId}/${desired.roleId}`,
          ...update,
          record: desired,
          before: observed,
        });
        changed = true;
      }
    }
    return changed;
  }

  /**
   * Whether a row belongs to another object that still counts: one that is
   * declared, or one this sync does not look at. A row whose owner is gone from
   * the declaration (and in scope, so it would be removed now) is taken over
   * instead: renaming an object keeps its row and what the application wrote.
   */
  private ownedByAnother(observed: OwnedRecord, ref: ObjectRef): boolean {
    if (!observed.managed || observed.source === undefined || ownedBy(observed, ref)) return false;
    const owner = refKey(sourceRef(observed.source));
    return this.declared.has(owner) || !this.isInScope(owner);
  }

  /**
   * The update that brings an observed row to its declared values, if any.
   * Drift: the row's columns no longer match what Gatehouse last wrote.
   */
  private updateAction<R extends OwnedRecord>(
    observed: R,
    desired: R,
    fields: (r: R) => Record<string, unknown>,
    digest: (r: R) => string,
  ): { reason: string; drift: boolean; changes: FieldChange[] } | undefined {
    const changes = diffFields(fields(observed), fields(desired));
    const adopting = !observed.managed || observed.source === undefined;
    const takingOver =
      !adopting && observed.source !== undefined && desired.source !== undefined && !ownedBy(observed, sourceRef(desired.source));
    if (changes.length === 0 && !adopting && !takingOver) return undefined;
    if (adopting) changes.push({ field: 'managed', from: false, to: true });
    if (takingOver) {
      changes.push({ field: 'owner', from: describeSource(observed.source as SourceRecord), to: describeSource(desired.source as SourceRecord) });
    }
    const drift = !adopting && observed.writtenDigest !== undefined && digest(observed) !== observed.writtenDigest;
    const names = changes.map((c) => c.field).join(', ');
    const reason = adopting
      ? `taking over a row no declared object manages (${names})`
      : takingOver
        ? `taking over the row of ${describeSource(observed.source as SourceRecord)}, which is no longer declared (${names})`
        : drift
        ? `changed outside Gatehouse (${names}); restoring the declared values`
        : `declaration changed (${names})`;
    return { reason, drift, changes };
  }

  // ------------------------------------------------------------------ roles

  planRoles(): void {
    const roles = this.declaredOfKind('Role');
    const planned = roles.map((role) => ({ role, workspaceId: this.availableWorkspaces.get(`${refOfObject(role).namespace}/${role.spec.workspaceRef.name}`) }));
    for (const { role, workspaceId } of sortedBy(planned, (p) => `${p.workspaceId ?? ''}\u0000${p.role.metadata.name}`)) this.planRole(role, workspaceId);
  }

  private planRole(role: Role, workspaceId: string | undefined): void {
    const ref = refOfObject(role);
    const pick = (rows: OwnedRows) => rows.roles[0];
    if (workspaceId === undefined) {
      this.notWritten(ref, 'blocked', StateReasons.DependencyNotReady, this.missingWorkspaceMessage(role), pick);
      return;
    }
    const desired = roleRecordOf(role, workspaceId, this.profile, this.sourceFor(role));
    const key = roleKey(workspaceId, desired.roleId);
    const observed = this.observed.roles.get(key);
    if (observed !== undefined && (observed.builtin || this.ownedByAnother(observed, ref))) {
      const owner = observed.source ? describeSource(observed.source as SourceRecord) : 'the product profile';
      this.notWritten(
        ref,
        'conflict',
        StateReasons.Conflict,
        `role "${desired.roleId}" of workspace ${workspaceId} is already owned in the identity store by ${owner}; rename the Role`,
        pick,
      );
      return;
    }
    this.claimedRoles.add(key);
    let status: ObjectOutcome['status'] = 'in-sync';
    const common = { object: ref, source: desired.source, workspaceId, key: `${workspaceId}/${desired.roleId}` } as const;
    if (observed === undefined) {
      this.createdRoles.add(key);
      this.push({ target: 'role', op: 'create', ...common, reason: 'declared and not in the identity store', drift: false, changes: [], record: desired });
      status = 'changed';
    } else {
      const update = this.updateAction(observed, desired, roleFields, roleDigest);
      if (update !== undefined) {
        this.push({ target: 'role', op: 'update', ...common, ...update, record: desired, before: observed });
        status = 'changed';
      }
    }
    this.setOutcome({ ref, status, workspaceId, record: desired, inStore: true });
  }

  private missingWorkspaceMessage(object: Role | Member | SupportGrant): string {
    const namespace = refOfObject(object).namespace;
    const workspace = this.workspaceObject(namespace, object.spec.workspaceRef.name);
    if (workspace === undefined) {
      return `Workspace ${namespace}/${object.spec.workspaceRef.name} is not declared; declare it or fix spec.workspaceRef`;
    }
    return `Workspace ${namespace}/${object.spec.workspaceRef.name} is not in the identity store (it has rule errors or a conflict); fix it first`;
  }

  private roleAvailable(workspaceId: string, roleId: string): boolean {
    const key = roleKey(workspaceId, roleId);
    return this.createdRoles.has(key) || this.observed.roles.has(key);
  }

  // ---------------------------------------------------------------- members

  planMembers(): void {
    const members = this.declaredOfKind('Member').map((member) => ({
      member,
      workspaceId: this.availableWorkspaces.get(`${refOfObject(member).namespace}/${member.spec.workspaceRef.name}`),
    }));
    for (const { member, workspaceId } of sortedBy(members, (m) => `${m.workspaceId ?? ''}\u0000${normalizeEmail(m.member.spec.email)}`)) {
      this.planMember(member, workspaceId);
    }
  }

  private planMember(member: Member, workspaceId: string | undefined): void {
    const ref = refOfObject(member);
    const pick = (rows: OwnedRows) => rows.members[0];
    if (workspaceId === undefined) {
      this.notWritten(ref, 'blocked', StateReasons.DependencyNotReady, this.missingWorkspaceMessage(member), pick);
      return;
    }
    if (member.spec.role !== undefined && !this.roleAvailable(workspaceId, member.spec.role)) {
      this.notWritten(
        ref,
        'blocked',
        StateReasons.DependencyNotReady,
        `role "${member.spec.role}" of workspace ${workspaceId} is not in the identity store (the Role has rule errors or a conflict); fix it first`,
        pick,
      );
      return;
    }
    const desired = memberRecordOf(member, workspaceId, this.sourceFor(member));
    const key = memberKey(workspaceId, desired.emailNormalized);
    const observed = this.observed.members.get(key);
    if (observed !== undefined && this.ownedByAnother(observed, ref)) {
      this.notWritten(
        ref,
        'conflict',
        StateReasons.Conflict,
        `email ${desired.email} in workspace ${workspaceId} is already owned by ${describeSource(observed.source as SourceRecord)}; you might have two Members with the same email: ${describeSource(observed.source as SourceRecord)} owns it`,
        pick,
      );
      return;
    }
    const lifetimeMs = this.invitationLifetimeMs(workspaceId, member);
    const resendRequested = resendRequestedOf(member);
    const common = {
      object: ref,
      source: desired.source,
      workspaceId,
      key: `${workspaceId}/${desired.emailNormalized}`,
    } as const;

    if (observed === undefined) {
      if (hasEnded(desired.expiresAt, this.at)) {
        // Access that ended before it was ever given is not written; nothing keeps changing.
        this.setOutcome({ ref, status: 'ended', workspaceId, record: { ...desired, state: 'Expired' }, inStore: false });
        return;
      }
      this.claimedMembers.add(key);
      const invitation: InvitationRecord = {
        state: 'Waiting',
        sender: this.options.actor,
        sentAt: this.at,
        expiresAt: invitationExpiry(this.at, lifetimeMs, desired.expiresAt),
        sentCount: 1,
        resendRequested,
      };
      const record: MemberRecord = { ...desired, state: 'Invited', invitation };
      this.push({
        target: 'member',
        op: 'create',
        ...common,
        reason: `declared and not in the identity store: invite ${desired.email}`,
        drift: false,
        changes: [],
        record,
        invitation,
      });
      this.noteMemberTimes(record);
      this.setOutcome({ ref, status: 'changed', workspaceId, record, inStore: true });
      return;
    }

    this.claimedMembers.add(key);
    let status: ObjectOutcome['status'] = 'in-sync';
    // App-owned facts and the invitation carry over; declared columns come from the spec.
    let next: MemberRecord = { ...desired, state: observed.state };
    if (observed.memberId !== undefined) next.memberId = observed.memberId;
    if (observed.acceptedAt !== undefined) next.acceptedAt = observed.acceptedAt;
    if (observed.lastLoginAt !== undefined) next.lastLoginAt = observed.lastLoginAt;
    if (observed.invitation !== undefined) next.invitation = observed.invitation;
    if (observed.roleId !== undefined && observed.roleId !== next.roleId) {
      this.releaseRole(workspaceId, observed.roleId);
    }

    const update = this.updateAction(observed, next, memberFields, memberDigest);
    // The state that follows from the times and the app's facts, before any lifecycle action.
    const accessEnded = hasEnded(next.expiresAt, this.at);
    const accepted = next.acceptedAt !== undefined || next.invitation?.state === 'Completed';
    let lifecycle: { op: ActionOp; reason: string; invitation?: InvitationRecord } | undefined;
    const invitation = next.invitation;
    if (!accessEnded && !accepted && invitation === undefined) {
      lifecycle = {
        op: 'issue-invitation',
        reason: `no invitation in the store for ${next.email}: sending one`,
        invitation: { state: 'Waiting', sender: this.options.actor, sentAt: this.at, expiresAt: invitationExpiry(this.at, lifetimeMs, desired.expiresAt), sentCount: 1, resendRequested },
      };
    } else if (!accessEnded && !accepted && invitation !== undefined && resendRequested > invitation.resendRequested) {
      lifecycle = {
        op: 'resend-invitation',
        reason: `spec.invitation.resend went from ${invitation.resendRequested} to ${resendRequested}: sending the invitation again`,
        invitation: {
          ...invitation,
          state: 'Waiting',
          sender: this.options.actor,
          sentAt: this.at,
          expiresAt: invitationExpiry(this.at, lifetimeMs, desired.expiresAt),
          sentCount: invitation.sentCount + 1,
          resendRequested,
        },
      };
    } else if (invitation !== undefined && invitation.state === 'Waiting' && (accessEnded || hasEnded(invitation.expiresAt, this.at))) {
      lifecycle = accessEnded
        ? { op: 'expire', reason: `temporary access ended at ${next.expiresAt}`, invitation: { ...invitation, state: 'Expired' } }
        : {
            op: 'expire-invitation',
            reason: `the invitation was not accepted before it expired at ${invitation.expiresAt}`,
            invitation: { ...invitation, state: 'Expired' },
          };
    }
    if (lifecycle?.invitation !== undefined) next = { ...next, invitation: lifecycle.invitation };
    // Access made to end sooner: a waiting invitation ends with it, never after.
    let shortenedInvitation: InvitationRecord | undefined;
    if (
      lifecycle === undefined &&
      update !== undefined &&
      next.invitation?.state === 'Waiting' &&
      next.expiresAt !== undefined &&
      next.invitation.expiresAt > next.expiresAt
    ) {
      shortenedInvitation = { ...next.invitation, expiresAt: next.expiresAt };
      next = { ...next, invitation: shortenedInvitation };
    }
    const state = memberStateAt(next, this.at).state;
    if (lifecycle === undefined && state === 'Expired' && observed.state !== 'Expired' && accessEnded) {
      lifecycle = { op: 'expire', reason: `temporary access ended at ${next.expiresAt}` };
    }
    const stateChange: FieldChange[] = state !== observed.state ? [{ field: 'state', from: observed.state, to: state }] : [];
    if (state !== next.state) next = { ...next, state };

    if (update !== undefined || (lifecycle === undefined && stateChange.length > 0)) {
      const changes = [...(update?.changes ?? []), ...(lifecycle === undefined ? stateChange : [])];
      const reason =
        update?.reason ??
        (accepted && state === 'Active'
          ? 'the application recorded the acceptance: the member is active'
          : `state ${observed.state} does not match the member's times (${state}); correcting it`);
      this.push({
        target: 'member',
        op: 'update',
        ...common,
        reason,
        drift: update?.drift ?? (stateChange.length > 0 && !accepted),
        changes:
          shortenedInvitation !== undefined
            ? [...changes, { field: 'invitation.expiresAt', from: observed.invitation?.expiresAt ?? null, to: shortenedInvitation.expiresAt }]
            : changes,
        record: next,
        before: observed,
        ...(shortenedInvitation !== undefined ? { invitation: shortenedInvitation } : {}),
      });
      status = 'changed';
    }
    if (lifecycle !== undefined) {
      const changes: FieldChange[] = [...stateChange];
      if (lifecycle.invitation !== undefined && invitation !== undefined) {
        changes.push({ field: 'invitation.state', from: invitation.state, to: lifecycle.invitation.state });
        if (lifecycle.invitation.sentAt !== invitation.sentAt) changes.push({ field: 'invitation.sentAt', from: invitation.sentAt, to: lifecycle.invitation.sentAt });
        if (lifecycle.invitation.expiresAt !== invitation.expiresAt) changes.push({ field: 'invitation.expiresAt', from: invitation.expiresAt, to: lifecycle.invitation.expiresAt });
      }
      this.push({
        target: 'member',
        op: lifecycle.op,
        ...common,
        reason: lifecycle.reason,
        drift: false,
        changes,
        record: next,
        before: observed,
        ...(lifecycle.invitation !== undefined ? { invitation: lifecycle.invitation } : {}),
      });
      status = 'changed';
    }
    this.noteMemberTimes(next);
    this.setOutcome({ ref, status, workspaceId, record: next, inStore: true });
  }

  private readonly invitationLifetimes = new Map<string, number>();

  /** The workspace's invitation lifetime (declared, else as stored), in ms. */
  private invitationLifetimeMs(workspaceId: string, object: Member | SupportGrant): number {
    let ms = this.invitationLifetimes.get(workspaceId);
    if (ms === undefined) {
      const declared = this.workspaceObject(refOfObject(object).namespace, object.spec.workspaceRef.name);
      ms =
        declared !== undefined && declared.spec?.workspaceId === workspaceId
          ? workspacePolicy(declared).invitationLifetimeMs
          : (this.observed.workspaces.get(workspaceId)?.invitationLifetimeSeconds ?? 168 * 3600) * 1000;
      this.invitationLifetimes.set(workspaceId, ms);
    }
    return ms;
  }

  /** Whether the grant's Workspace lets vendor support in (declared, else as stored). */
  private supportAllowed(workspaceId: string, grant: SupportGrant): boolean {
    const declared = this.workspaceObject(refOfObject(grant).namespace, grant.spec.workspaceRef.name);
    if (declared !== undefined && declared.spec?.workspaceId === workspaceId) return workspacePolicy(declared).supportAllowed;
    return this.observed.workspaces.get(workspaceId)?.supportAllowed ?? false;
  }

  private releaseRole(workspaceId: string, roleId: string): void {
    const key = roleKey(workspaceId, roleId);
    this.releasedRoleAssignments.set(key, (this.releasedRoleAssignments.get(key) ?? 0) + 1);
  }

  private noteMemberTimes(member: MemberRecord): void {
    if (member.state !== 'Expired' && member.expiresAt !== undefined && member.expiresAt > this.at) this.nextChanges.push(member.expiresAt);
    const invitation = member.invitation;
    if (invitation?.state === 'Waiting' && invitation.expiresAt > this.at && member.state === 'Invited') this.nextChanges.push(invitation.expiresAt);
  }

  // --------------------------------------------------------- support grants

  planGrants(): void {
    const grants = this.declaredOfKind('SupportGrant').map((grant) => ({
      grant,
      workspaceId: this.availableWorkspaces.get(`${refOfObject(grant).namespace}/${grant.spec.workspaceRef.name}`),
    }));
    for (const { grant, workspaceId } of sortedBy(grants, (g) => `${g.workspaceId ?? ''}\u0000${g.grant.metadata.name}`)) this.planGrant(grant, workspaceId);
  }

  private planGrant(grant: SupportGrant, workspaceId: string | undefined): void {
    const ref = refOfObject(grant);
    const pick = (rows: OwnedRows) => rows.grants[0];
    if (workspaceId === undefined) {
      this.notWritten(ref, 'blocked', StateReasons.DependencyNotReady, this.missingWorkspaceMessage(grant), pick);
      return;
    }
    const key = grantKey(workspaceId, grant.metadata.name);
    const observed = this.observed.grants.get(key);
    let scopeMemberEmail: string | undefined;
    if (grant.spec.scope.type === 'Member' && grant.spec.scope.memberRef !== undefined) {
      const target = this.declared.get(refKey({ kind: 'Member', namespace: ref.namespace, name: grant.spec.scope.memberRef.name }));
      if (target?.kind === 'Member' && typeof target.spec?.email === 'string') scopeMemberEmail = target.spec.email;
    }
    const desired = grantRecordOf(grant, workspaceId, scopeMemberEmail, observed?.startsAt ?? this.at, this.sourceFor(grant));
    if (desired === undefined) {
      this.notWritten(ref, 'held', '', 'the SupportGrant\'s start or end cannot be read', pick);
      return;
    }
    if (observed !== undefined && this.ownedByAnother(observed, ref)) {
      this.notWritten(
        ref,
        'conflict',
        StateReasons.Conflict,
        `support grant "${desired.name}" of workspace ${workspaceId} is already owned by ${describeSource(observed.source as SourceRecord)}: rename it`,
        pick,
      );
      return;
    }
    // Revocation is final: once recorded it stays, whatever the spec says later.
    // Switching support access off on the Workspace revokes every grant still
    // in effect or to come, at once.
    const supportOff = !hasEnded(desired.endsAt, this.at) && !this.supportAllowed(workspaceId, grant);
    const cause: RevocationCause | undefined =
      observed?.revokedAt !== undefined
        ? (observed.revokedCause ?? 'Declared')
        : grant.spec.revoked === true
          ? 'Declared'
          : supportOff
            ? 'SupportAccessOff'
            : undefined;
    const revokedAt = observed?.revokedAt ?? (cause !== undefined ? this.at : undefined);
    const withRevocation: SupportGrantRecord = {
      ...desired,
      ...(revokedAt !== undefined ? { revokedAt } : {}),
      ...(revokedAt !== undefined && cause !== undefined ? { revokedCause: cause } : {}),
    };
    const state = grantStateAt(withRevocation, this.at);
    const next: SupportGrantRecord = {
      ...withRevocation,
      state,
      ...(observed?.grantId !== undefined ? { grantId: observed.grantId } : {}),
    };
    const common = { object: ref, source: desired.source, workspaceId, key: `${workspaceId}/${desired.name}` } as const;
    if (observed === undefined) {
      if (state === 'Expired' || state === 'Revoked') {
        this.setOutcome({ ref, status: 'ended', workspaceId, record: next, inStore: false });
        return;
      }
      this.claimedGrants.add(key);
      this.push({
        target: 'supportGrant',
        op: 'create',
        ...common,
        reason: state === 'Pending' ? `declared; access starts at ${next.startsAt}` : `declared: support access until ${next.endsAt}`,
        drift: false,
        changes: [],
        record: next,
      });
      this.noteGrantTimes(next);
      this.setOutcome({ ref, status: 'changed', workspaceId, record: next, inStore: true });
      return;
    }
    this.claimedGrants.add(key);
    let status: ObjectOutcome['status'] = 'in-sync';
    const update = this.updateAction(observed, next, grantFields, grantDigest);
    const lifecycleOp: ActionOp | undefined =
      state === observed.state
        ? undefined
        : state === 'Revoked'
          ? 'revoke'
          : state === 'Expired' && observed.state !== 'Revoked'
            ? 'expire'
            : state === 'Active' && observed.state === 'Pending' && update === undefined
              ? 'activate'
              : undefined;
    const stateChange: FieldChange[] = state !== observed.state ? [{ field: 'state', from: observed.state, to: state }] : [];
    if (update !== undefined || (lifecycleOp === undefined && stateChange.length > 0)) {
      this.push({
        target: 'supportGrant',
        op: 'update',
        ...common,
        reason: update?.reason ?? `state ${observed.state} does not match the grant's times (${state}); correcting it`,
        drift: update?.drift ?? true,
        changes: [...(update?.changes ?? []), ...(lifecycleOp === undefined ? stateChange : [])],
        record: next,
        before: observed,
      });
      status = 'changed';
    }
    if (lifecycleOp !== undefined) {
      const reason =
        lifecycleOp === 'revoke'
          ? next.revokedCause === 'SupportAccessOff'
            ? `Workspace ${ref.namespace}/${grant.spec.workspaceRef.name} switched vendor support access off (spec.supportAccess.allowed: false): support access revoked`
            : 'spec.revoked is true: support access revoked'
          : lifecycleOp === 'expire'
            ? `support access ended at ${next.endsAt}`
            : `support access started at ${next.startsAt}`;
      const changes = [...stateChange];
      if (lifecycleOp === 'revoke') changes.push({ field: 'revokedAt', from: observed.revokedAt ?? null, to: next.revokedAt ?? null });
      this.push({ target: 'supportGrant', op: lifecycleOp, ...common, reason, drift: false, changes, record: next, before: observed });
      status = 'changed';
    }
    this.noteGrantTimes(next);
    this.setOutcome({ ref, status, workspaceId, record: next, inStore: true });
  }

  private noteGrantTimes(grant: SupportGrantRecord): void {
    if (grant.state === 'Pending' && grant.startsAt > this.at) this.nextChanges.push(grant.startsAt);
    if ((grant.state === 'Pending' || grant.state === 'Active') && grant.endsAt > this.at) this.nextChanges.push(grant.endsAt);
  }

  // --------------------------------------------------------------- removals

  /** Observed rows whose key no declared object claimed (the candidates for removal). */
  private unclaimed<R>(rows: Map<string, R>, claimed: ReadonlySet<string>): R[] {
    const out: R[] = [];
    for (const [key, row] of rows) if (!claimed.has(key)) out.push(row);
    return out;
  }

  /** Whether a row's owner is gone from the declaration (or moved to another row), so the row goes. */
  private removable(record: OwnedRecord): boolean {
    if (!record.managed || record.source === undefined) return false;
    return this.isInScope(refKey(sourceRef(record.source)));
  }

  planRemovals(guard: { maxShare: number } | false): MassRemoval[] {
    const removedMembers = new Map<string, number>();
    const grantActions: PlanAction[] = [];
    const memberActions: PlanAction[] = [];
    const roleActions: PlanAction[] = [];
    const workspaceActions: PlanAction[] = [];

    const workspaceRows = [...this.observed.workspaces.values()]
      .filter((r) => !this.claimedWorkspaces.has(r.workspaceId) && this.removable(r))
      .sort((a, b) => compareStrings(a.workspaceId, b.workspaceId));
    for (const row of workspaceRows) {
      const source = row.source as SourceRecord;
      const del = row.deletionPolicy !== 'Orphan';
      if (del) this.deletedWorkspaces.add(row.workspaceId);
      const cascade = {
        members: this.observed.memberCounts.get(row.workspaceId) ?? 0,
        roles: [...this.observed.roles.values()].filter((r) => r.workspaceId === row.workspaceId).length,
        supportGrants: [...this.observed.grants.values()].filter((r) => r.workspaceId === row.workspaceId).length,
      };
      if (del) removedMembers.set(row.workspaceId, cascade.members);
      workspaceActions.push({
        target: 'workspace',
        op: del ? 'delete' : 'forget',
        object: sourceRef(source),
        source,
        workspaceId: row.workspaceId,
        key: row.workspaceId,
        reason: del
          ? `${describeSource(source)} ${this.goneWords(source)}; deleting the workspace with its ${cascade.members} members, ${cascade.roles} roles and ${cascade.supportGrants} support grants`
          : `${describeSource(source)} ${this.goneWords(source)}; deletionPolicy Orphan leaves its rows unmanaged`,
        drift: false,
        changes: [],
        record: row,
        before: row,
        cascade,
      });
      this.removedOutcome(sourceRef(source), del, row.workspaceId);
    }

    const keep = (workspaceId: string) => !this.deletedWorkspaces.has(workspaceId);

    for (const row of sortedBy(this.unclaimed(this.observed.grants, this.claimedGrants), (r) => grantKey(r.workspaceId, r.name))) {
      if (!this.removable(row) || !keep(row.workspaceId)) continue;
      const source = row.source as SourceRecord;
      const del = row.deletionPolicy !== 'Orphan';
      grantActions.push({
        target: 'supportGrant',
        op: del ? 'delete' : 'forget',
        object: sourceRef(source),
        source,
        workspaceId: row.workspaceId,
        key: `${row.workspaceId}/${row.name}`,
        reason: `${describeSource(source)} ${this.goneWords(source)}; ${del ? 'support access removed' : 'deletionPolicy Orphan leaves the row unmanaged'}`,
        drift: false,
        changes: [],
        record: row,
        before: row,
      });
      this.removedOutcome(sourceRef(source), del, row.workspaceId);
    }

    for (const row of sortedBy(this.unclaimed(this.observed.members, this.claimedMembers), (r) => memberKey(r.workspaceId, r.emailNormalized))) {
      if (!this.removable(row) || !keep(row.workspaceId)) continue;
      const source = row.source as SourceRecord;
      const del = row.deletionPolicy !== 'Orphan';
      if (del) {
        removedMembers.set(row.workspaceId, (removedMembers.get(row.workspaceId) ?? 0) + 1);
        if (row.roleId !== undefined) this.releaseRole(row.workspaceId, row.roleId);
      }
      memberActions.push({
        target: 'member',
        op: del ? 'delete' : 'forget',
        object: sourceRef(source),
        source,
        workspaceId: row.workspaceId,
        key: `${row.workspaceId}/${row.emailNormalized}`,
        reason: `${describeSource(source)} ${this.goneWords(source)}; ${del ? `${row.email} loses access` : 'deletionPolicy Orphan leaves the row unmanaged'}`,
        drift: false,
        changes: [],
        record: row,
        before: row,
      });
      this.removedOutcome(sourceRef(source), del, row.workspaceId);
    }

    for (const row of sortedBy(this.unclaimed(this.observed.roles, this.claimedRoles), (r) => roleKey(r.workspaceId, r.roleId))) {
      const key = roleKey(row.workspaceId, row.roleId);
      if (!this.removable(row) || !keep(row.workspaceId)) continue;
      const source = row.source as SourceRecord;
      const del = row.deletionPolicy !== 'Orphan';
      const stillAssigned = (this.observed.roleUsage.get(key) ?? 0) - (this.releasedRoleAssignments.get(key) ?? 0);
      if (del && stillAssigned > 0) {
        // A default role the profile dropped stays while members have it; its Workspace's state is its own.
        if (row.builtin) continue;
        this.setOutcome({
          ref: sourceRef(source),
          status: 'removal-blocked',
          workspaceId: row.workspaceId,
          reason: StateReasons.RoleInUse,
          message: `role "${row.roleId}" of workspace ${row.workspaceId} is not removed: ${stillAssigned} member(s) in the identity store still have it; give them another role first`,
          record: row,
          inStore: true,
        });
        continue;
      }
      roleActions.push({
        target: 'role',
        op: del ? 'delete' : 'forget',
        object: sourceRef(source),
        source,
        workspaceId: row.workspaceId,
        key: `${row.workspaceId}/${row.roleId}`,
        reason: row.builtin
          ? `default role no longer in the product profile`
          : `${describeSource(source)} ${this.goneWords(source)}${del ? '' : '; deletionPolicy Orphan leaves the row unmanaged'}`,
        drift: false,
        changes: [],
        record: row,
        before: row,
      });
      if (!row.builtin) this.removedOutcome(sourceRef(source), del, row.workspaceId);
    }

    this.actions.push(...grantActions, ...memberActions, ...roleActions, ...workspaceActions);

    const massRemovals: MassRemoval[] = [];
    if (guard !== false) {
      for (const [workspaceId, removing] of [...removedMembers].sort((a, b) => compareStrings(a[0], b[0]))) {
        const total = this.observed.memberCounts.get(workspaceId) ?? 0;
        if (total > 0 && removing / total > guard.maxShare) massRemovals.push({ workspaceId, removing, total, maxShare: guard.maxShare });
      }
    }
    return massRemovals;
  }

  private goneWords(source: SourceRecord): string {
    return this.declared.has(refKey(sourceRef(source))) ? 'now declares another row' : 'is no longer declared';
  }

  private removedOutcome(ref: ObjectRef, deleted: boolean, workspaceId: string): void {
    const key = refKey(ref);
    // An object still declared (its key moved) keeps its own outcome.
    if (this.declared.has(key) || this.outcomes.has(key)) return;
    this.setOutcome({
      ref,
      status: 'removed',
      workspaceId,
      reason: deleted ? StateReasons.Removed : StateReasons.Orphaned,
      message: deleted ? 'removed from the identity store' : 'left in the identity store, no longer managed (deletionPolicy Orphan)',
      inStore: !deleted,
    });
  }

  /** In-scope refs that are neither declared nor in the store: nothing to do, but report them. */
  reportAbsentRefs(): void {
    if (this.inScope === undefined) return;
    for (const key of this.inScope) {
      if (this.outcomes.has(key) || this.declared.has(key)) continue;
      const [kind, namespace, ...rest] = key.split('/');
      this.setOutcome({
        ref: { kind: kind as ObjectRef['kind'], namespace: namespace ?? 'default', name: rest.join('/') },
        status: 'removed',
        reason: StateReasons.Removed,
        message: 'not in the identity store',
        inStore: false,
      });
    }
  }
}

/** The object's ref; safe on malformed objects (they reach the planner only to be held). */
export function refOfObject(object: GatehouseObject): ObjectRef {
  const metadata = (object as { metadata?: { namespace?: unknown; name?: unknown } }).metadata;
  return {
    kind: object.kind,
    namespace: typeof metadata?.namespace === 'string' ? metadata.namespace : 'default',
    name: typeof metadata?.name === 'string' ? metadata.name : '',
  };
}

export function describeSource(source: SourceRecord): string {
  return `${source.kind} ${source.namespace}/${source.name}`;
}

function summarize(actions: readonly PlanAction[]): PlanSummary {
  const byObject = new Map<string, Set<ActionOp>>();
  for (const action of actions) {
    if (action.object === undefined) continue;
    const key = refKey(action.object);
    let ops = byObject.get(key);
    if (ops === undefined) byObject.set(key, (ops = new Set()));
    // A Workspace's default roles count with the Workspace, as changes unless it is created.
    ops.add(action.target === 'role' && action.object.kind === 'Workspace' && action.op === 'create' ? 'update' : action.op);
  }
  const summary: PlanSummary = { add: 0, change: 0, remove: 0 };
  for (const ops of byObject.values()) {
    if (ops.has('create')) summary.add += 1;
    else if (ops.has('delete') || ops.has('forget')) summary.remove += 1;
    else summary.change += 1;
  }
  return summary;
}

/**
 * Plans the changes that make the store hold what is declared, as of `at`.
 * `desired` holds every declared object (out-of-scope ones are context);
 * `observed` is what the store holds (all of it for scope all).
 */
export function plan(desired: readonly GatehouseObject[], observed: ObservedStore, at: Date, options: PlanOptions): Plan {
  const planner = new Planner(desired, observed, at, options);
  planner.planCatalog();
  planner.planWorkspaces();
  planner.planRoles();
  planner.planMembers();
  planner.planGrants();
  const guard =
    options.removalGuard !== undefined
      ? options.removalGuard
      : options.scope.type === 'all'
        ? { maxShare: DEFAULT_MAX_REMOVAL_SHARE }
        : false;
  const massRemovals = planner.planRemovals(guard);
  planner.reportAbsentRefs();
  const nextChangeAt = planner.nextChanges.length > 0 ? planner.nextChanges.reduce((a, b) => (a < b ? a : b)) : undefined;
  return {
    at: planner.at,
    actions: planner.actions,
    outcomes: [...planner.outcomes.values()],
    massRemovals,
    ...(nextChangeAt !== undefined ? { nextChangeAt } : {}),
    summary: summarize(planner.actions),
  };
}

/** An empty observed store (a store with no rows). */
export function emptyObservedStore(): ObservedStore {
  return {
    complete: true,
    permissions: [],
    workspaces: new Map(),
    roles: new Map(),
    members: new Map(),
    grants: new Map(),
    roleUsage: new Map(),
    memberCounts: new Map(),
  };
}
