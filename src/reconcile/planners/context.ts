// What the per-kind planners share: the inputs (declared objects, the store's
// rows, the instant, what is in scope) and what they build together (the
// action list, each object's outcome, the rows kept). One plain value passed
// along the chain in plan.ts, instead of one class's private state.
import type { GatehouseObject, ObjectRef } from '../../model/kinds.js';
import type { Member } from '../../model/member.js';
import type { Profile } from '../../model/profile.js';
import type { Role } from '../../model/role.js';
import type { SupportGrant } from '../../model/support-grant.js';
import type { Workspace } from '../../model/workspace.js';
import { sourceOf } from '../desired.js';
import {
  diffFields,
  grantKey,
  memberKey,
  ownedBy,
  refKey,
  roleKey,
  sourceRef,
  type FieldChange,
  type MemberRecord,
  type OwnedRecord,
  type RoleRecord,
  type SourceRecord,
  type SupportGrantRecord,
  type WorkspaceRecord,
} from '../records.js';
import { StateReasons } from '../reasons.js';
import type { MassRemoval, ObjectOutcome, ObservedStore, PlanAction, SyncScope } from '../types.js';

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
  /**
   * `desired` already indexed (declaredObjects(desired)), so a caller that
   * needs the index too builds it once per sync. Must index the same list.
   */
  declared?: DeclaredObjects;
}

/** Declared objects by refKey, in declaration order (first wins: duplicates are rule errors). */
export type DeclaredObjects = ReadonlyMap<string, GatehouseObject>;

export function declaredObjects(desired: readonly GatehouseObject[]): DeclaredObjects {
  const byKey = new Map<string, GatehouseObject>();
  for (const object of desired) {
    const key = declaredKey(object);
    if (!byKey.has(key)) byKey.set(key, object);
  }
  return byKey;
}

/** refKey(refOfObject(object)), without the intermediate ref (run for every object of a sync's context). */
export function declaredKey(object: GatehouseObject): string {
  const metadata = (object as { metadata?: { namespace?: unknown; name?: unknown } }).metadata;
  const namespace = typeof metadata?.namespace === 'string' ? metadata.namespace : 'default';
  return `${object.kind}/${namespace}/${typeof metadata?.name === 'string' ? metadata.name : ''}`;
}

/** Rows a source object owns, found through the rows' source columns. */
export interface OwnedRows {
  workspaces: WorkspaceRecord[];
  roles: RoleRecord[];
  members: MemberRecord[];
  grants: SupportGrantRecord[];
}

export interface PlanContext {
  readonly at: string;
  readonly profile: Profile;
  readonly options: PlanOptions;
  readonly observed: ObservedStore;
  readonly declared: DeclaredObjects;
  /** In-scope refKeys; undefined with scope all. */
  readonly inScope: ReadonlySet<string> | undefined;
  /** The in-scope refKeys that are declared, in declaration order (scoped plans only). */
  readonly inScopeDeclared: readonly string[] | undefined;
  readonly held: ReadonlySet<string>;
  readonly removalGuard: { maxShare: number } | false;

  // Built along the chain.
  readonly actions: PlanAction[];
  /** By refKey, in the order objects were planned. */
  readonly outcomes: Map<string, ObjectOutcome>;
  /** Observed rows kept after the plan, by row key. */
  readonly claimed: { workspaces: Set<string>; roles: Set<string>; members: Set<string>; grants: Set<string> };
  /** Workspaces (`namespace/name` of the Workspace object) whose row dependents may use, with its id. */
  readonly availableWorkspaces: Map<string, string>;
  readonly createdRoles: Set<string>;
  /** Observed members whose role assignment this plan changes or removes (for RoleInUse). */
  readonly releasedRoleAssignments: Map<string, number>;
  /** Observed rows by the refKey of the object that owns them. */
  readonly bySource: Map<string, OwnedRows>;
  readonly massRemovals: MassRemoval[];
}

export function planContext(desired: readonly GatehouseObject[], observed: ObservedStore, at: string, options: PlanOptions, removalGuard: { maxShare: number } | false): PlanContext {
  const declared = options.declared ?? declaredObjects(desired);
  const inScope = options.scope.type === 'all' ? undefined : new Set(options.scope.refs.map(refKey));
  return {
    at,
    profile: options.profile,
    options,
    observed,
    declared,
    inScope,
    inScopeDeclared: inScope === undefined ? undefined : declaredInOrder(declared, inScope),
    held: options.held ?? new Set(),
    removalGuard,
    actions: [],
    outcomes: new Map(),
    claimed: { workspaces: new Set(), roles: new Set(), members: new Set(), grants: new Set() },
    availableWorkspaces: new Map(),
    createdRoles: new Set(),
    releasedRoleAssignments: new Map(),
    bySource: observedBySource(observed),
    massRemovals: [],
  };
}

function observedBySource(observed: ObservedStore): Map<string, OwnedRows> {
  const bySource = new Map<string, OwnedRows>();
  const add = <K extends keyof OwnedRows>(kind: K, record: OwnedRows[K][number]) => {
    if (record.source === undefined) return;
    const key = refKey(record.source);
    let rows = bySource.get(key);
    if (rows === undefined) {
      rows = { workspaces: [], roles: [], members: [], grants: [] };
      bySource.set(key, rows);
    }
    (rows[kind] as Array<OwnedRows[K][number]>).push(record);
  };
  for (const r of observed.workspaces.values()) add('workspaces', r);
  for (const r of observed.roles.values()) add('roles', r);
  for (const r of observed.members.values()) add('members', r);
  for (const r of observed.grants.values()) add('grants', r);
  return bySource;
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

export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Sorts by a string key computed once per item (not once per comparison). */
export function sortedBy<T>(items: Iterable<T>, key: (item: T) => string): T[] {
  return [...items]
    .map((item) => ({ item, key: key(item) }))
    .sort((a, b) => compareStrings(a.key, b.key))
    .map((entry) => entry.item);
}

export function isInScope(ctx: PlanContext, key: string): boolean {
  return ctx.inScope === undefined || ctx.inScope.has(key);
}

export function isDeclared(ctx: PlanContext, key: string): boolean {
  return ctx.declared.has(key);
}

export function sourceFor(ctx: PlanContext, object: GatehouseObject): SourceRecord {
  return sourceOf(object, ctx.options.files?.get(refKey(refOfObject(object))));
}

/**
 * Of `keys`, the declared ones in declaration order, found once per plan: the
 * per-kind planners then walk the scope only, never the whole declaration.
 */
function declaredInOrder(declared: DeclaredObjects, keys: ReadonlySet<string>): string[] {
  if (keys.size === 1) return [...keys].filter((key) => declared.has(key));
  const out: string[] = [];
  for (const key of declared.keys()) if (keys.has(key)) out.push(key);
  return out;
}

/**
 * The in-scope declared objects of a kind that may be written. Held ones
 * (rule errors, possibly malformed) are reported here and keep their rows;
 * the caller never reads their spec.
 */
export function declaredOfKind<K extends GatehouseObject['kind']>(ctx: PlanContext, kind: K): Array<Extract<GatehouseObject, { kind: K }>> {
  const out: Array<Extract<GatehouseObject, { kind: K }>> = [];
  const objects: Iterable<[string, GatehouseObject]> = ctx.inScopeDeclared?.map((key) => [key, ctx.declared.get(key) as GatehouseObject]) ?? ctx.declared;
  for (const [key, object] of objects) {
    if (object.kind !== kind) continue;
    if (ctx.held.has(key)) {
      const pick = (rows: OwnedRows) => (kind === 'Workspace' ? rows.workspaces[0] : kind === 'Role' ? rows.roles[0] : kind === 'Member' ? rows.members[0] : rows.grants[0]);
      notWritten(ctx, refOfObject(object), 'held', '', `the ${kind} has rule errors; its rows are left as they are`, pick);
      continue;
    }
    out.push(object as Extract<GatehouseObject, { kind: K }>);
  }
  return out;
}

export function workspaceObject(ctx: PlanContext, namespace: string, name: string): Workspace | undefined {
  const object = ctx.declared.get(refKey({ kind: 'Workspace', namespace, name }));
  return object?.kind === 'Workspace' ? object : undefined;
}

/**
 * The id of the workspace row an object of `namespace` referring to
 * Workspace `name` may use: one planned usable in this plan, or (scoped sync)
 * an out-of-scope Workspace whose row the store holds, looked up only when a
 * dependent asks.
 */
export function availableWorkspace(ctx: PlanContext, namespace: string, name: string): string | undefined {
  const nsName = `${namespace}/${name}`;
  const planned = ctx.availableWorkspaces.get(nsName);
  if (planned !== undefined || ctx.inScope === undefined) return planned;
  const key = refKey({ kind: 'Workspace', namespace, name });
  if (ctx.inScope.has(key)) return undefined;
  const object = ctx.declared.get(key);
  if (object?.kind !== 'Workspace') return undefined;
  const workspaceId = (object.spec as { workspaceId?: unknown } | undefined)?.workspaceId;
  if (typeof workspaceId !== 'string') return undefined;
  const row = ctx.observed.workspaces.get(workspaceId);
  if (row === undefined || !(ownedBy(row, refOfObject(object)) || !row.managed)) return undefined;
  ctx.availableWorkspaces.set(nsName, row.workspaceId);
  return row.workspaceId;
}

/** Marks the rows an object owns as kept (held, blocked or conflicting objects keep what they have). */
export function claimOwnedRows(ctx: PlanContext, ref: ObjectRef): OwnedRows | undefined {
  const rows = ctx.bySource.get(refKey(ref));
  if (rows === undefined) return undefined;
  for (const r of rows.workspaces) ctx.claimed.workspaces.add(r.workspaceId);
  for (const r of rows.roles) ctx.claimed.roles.add(roleKey(r.workspaceId, r.roleId));
  for (const r of rows.members) ctx.claimed.members.add(memberKey(r.workspaceId, r.emailNormalized));
  for (const r of rows.grants) ctx.claimed.grants.add(grantKey(r.workspaceId, r.name));
  return rows;
}

export function setOutcome(ctx: PlanContext, outcome: ObjectOutcome): void {
  ctx.outcomes.set(refKey(outcome.ref), outcome);
}

/** An object that is not written this time: rule errors, a conflict, a missing dependency. */
export function notWritten(
  ctx: PlanContext,
  ref: ObjectRef,
  status: 'held' | 'conflict' | 'blocked',
  reason: string,
  message: string,
  pick: (rows: OwnedRows) => ObjectOutcome['record'],
): void {
  const rows = claimOwnedRows(ctx, ref);
  const record = rows ? pick(rows) : undefined;
  setOutcome(ctx, {
    ref,
    status,
    reason,
    message,
    inStore: record !== undefined,
    ...(record !== undefined ? { record, workspaceId: record.workspaceId } : {}),
  });
}

/**
 * Whether a row belongs to another object that still counts: one that is
 * declared, or one this sync does not look at. A row whose owner is gone from
 * the declaration (and in scope, so it would be removed now) is taken over
 * instead: renaming an object keeps its row and what the application wrote.
 */
export function ownedByAnother(ctx: PlanContext, observed: OwnedRecord, ref: ObjectRef): boolean {
  if (!observed.managed || observed.source === undefined || ownedBy(observed, ref)) return false;
  const owner = refKey(sourceRef(observed.source));
  return isDeclared(ctx, owner) || !isInScope(ctx, owner);
}

/**
 * Holds an object back as a conflict when its row belongs to someone else: another declared object,
 * one out of this sync's scope, or (`builtin`) the product profile. `message` words the refusal
 * with the owner's description. Returns whether the object was held.
 */
export function heldAsConflict(
  ctx: PlanContext,
  ref: ObjectRef,
  observed: OwnedRecord | undefined,
  pick: (rows: OwnedRows) => ObjectOutcome['record'],
  message: (owner: string) => string,
  builtin = false,
): boolean {
  if (observed === undefined || !(builtin || ownedByAnother(ctx, observed, ref))) return false;
  const owner = observed.source !== undefined ? describeSource(observed.source) : 'the product profile';
  notWritten(ctx, ref, 'conflict', StateReasons.Conflict, message(owner), pick);
  return true;
}

/**
 * The update that brings an observed row to its declared values, if any.
 * Drift: the row's columns no longer match what Gatehouse last wrote.
 */
export function updateAction<R extends OwnedRecord>(
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

/**
 * Plans the in-scope declared objects of a kind that live in a Workspace, in
 * the order of their rows (workspace id, then `rowName`); one whose Workspace
 * row is not usable is blocked and keeps what it owns.
 */
export function planInWorkspaces<K extends 'Role' | 'Member' | 'SupportGrant'>(
  ctx: PlanContext,
  kind: K,
  rowName: (object: Extract<GatehouseObject, { kind: K }>) => string,
  pick: (rows: OwnedRows) => ObjectOutcome['record'],
  planOne: (ctx: PlanContext, object: Extract<GatehouseObject, { kind: K }>, workspaceId: string) => void,
): void {
  const planned = declaredOfKind(ctx, kind).map((object) => ({
    object,
    workspaceId: availableWorkspace(ctx, refOfObject(object).namespace, (object as Role | Member | SupportGrant).spec.workspaceRef.name),
  }));
  for (const { object, workspaceId } of sortedBy(planned, (p) => `${p.workspaceId ?? ''}\u0000${rowName(p.object)}`)) {
    if (workspaceId === undefined) notWritten(ctx, refOfObject(object), 'blocked', StateReasons.DependencyNotReady, missingWorkspaceMessage(ctx, object as Role | Member | SupportGrant), pick);
    else planOne(ctx, object, workspaceId);
  }
}

/** An outcome's next change: the earliest of the instants still to come, if any. */
export function nextChangeOf(instants: readonly string[]): { nextChangeAt?: string } {
  const next = earliest(instants);
  return next !== undefined ? { nextChangeAt: next } : {};
}

export function missingWorkspaceMessage(ctx: PlanContext, object: Role | Member | SupportGrant): string {
  const namespace = refOfObject(object).namespace;
  const workspace = workspaceObject(ctx, namespace, object.spec.workspaceRef.name);
  if (workspace === undefined) {
    return `Workspace ${namespace}/${object.spec.workspaceRef.name} is not declared; declare it or fix spec.workspaceRef`;
  }
  return `Workspace ${namespace}/${object.spec.workspaceRef.name} is not in the identity store (it has rule errors or a conflict); fix it first`;
}

export function releaseRole(ctx: PlanContext, workspaceId: string, roleId: string): void {
  const key = roleKey(workspaceId, roleId);
  ctx.releasedRoleAssignments.set(key, (ctx.releasedRoleAssignments.get(key) ?? 0) + 1);
}

/** The earliest of some instants (ISO strings), or undefined. */
export function earliest(instants: readonly string[]): string | undefined {
  return instants.length > 0 ? instants.reduce((a, b) => (a < b ? a : b)) : undefined;
}
