// The engine's entry points for the CLI (a whole folder, scope all) and the
// operator (a few objects, scope objects; the rest of the declaration is
// context): check the rules, read the store, plan, apply in one transaction,
// and report each object's state.
import type { GatehouseObject, ObjectRef } from '../model/kinds.js';
import { grantsAdmin, type Profile } from '../model/profile.js';
import { checkObject, checkObjectsByObject, createObjectIndex, hasErrors } from '../rules/index.js';
import type { ObjectIndex, RecordedObject, RecordedState, Violation } from '../rules/types.js';
import { applyPlan, type ApplyResult } from '../store/apply.js';
import { lastActionsOf } from '../store/audit.js';
import { checkLeadershipFence, type LeadershipToken } from '../store/fence.js';
import { loadCounts, loadObserved, loadRowCounts, snapshotStillCurrent, type ObservedSelection, type ObservedSnapshot } from '../store/observed.js';
import type { Store } from '../store/store.js';
import { iso } from '../reconcile/desired.js';
import { declaredObjects, plan as makePlan, refOfObject } from '../reconcile/plan.js';
import { grantKey, memberKey, normalizeEmail, ownedBy, refKey, roleKey } from '../reconcile/records.js';
import { StateReasons } from '../reconcile/reasons.js';
import { objectStateOf, type StoreCounts } from '../reconcile/states.js';
import type { MassRemoval, ObjectOutcome, ObjectState, ObservedStore, Plan, SyncScope } from '../reconcile/types.js';

export type { SyncScope };

export interface RemovalGuard {
  /** Largest share of a workspace's members one sync may remove (default 0.25). */
  maxShare: number;
  /** Remove anyway (`--allow-mass-removal`). */
  allow: boolean;
}

export interface SyncOptions {
  at: Date;
  /** Who applies: `cli:alice`, `operator`. Recorded in the audit log and as the invitations' sender. */
  actor: string;
  /** Who made the change to one object (the operator: the Kubernetes user), recorded instead of `actor`; `uid`: the row owner's. */
  actorOf?: (ref: ObjectRef, uid?: string) => string | undefined;
  scope: SyncScope;
  profile: Profile;
  /** Plan and report without writing. */
  dryRun?: boolean;
  /**
   * Refuse removing more than maxShare of a workspace's members at once.
   * Default: on (25%) with scope all, off with scope objects.
   */
  removalGuard?: RemovalGuard;
  /** The file each object came from (refKey `Kind/namespace/name` -> path), recorded as its source. */
  files?: ReadonlyMap<string, string>;
  /** A ready index of `desired` (the operator's cache); built when absent. */
  index?: ObjectIndex;
  /** Progress of a large apply. */
  onProgress?: (done: number, total: number) => void;
  /**
   * Refuse the whole sync (nothing written) when any in-scope object breaks a
   * rule, including the rules that compare it with what the store recorded
   * (`gatehouse apply` and `plan`). Off: those objects are held, the rest is written.
   */
  refuseOnRuleErrors?: boolean;
  /**
   * Work out each in-scope object's state and next change (`states`,
   * `nextChangeAtByRef`: the operator's status). Default true; the CLI, which
   * prints the plan, says false and gets both empty.
   */
  objectStates?: boolean;
  /**
   * A full read of this store made before the sync (scope all; the CLI reads while it
   * parses the files): used when the store has not changed since, else read again.
   */
  snapshot?: ObservedSnapshot;
  /**
   * The elected operator's term: the transaction aborts (FencedError) when a
   * newer leader has written, so a deposed leader cannot write after it.
   */
  fence?: LeadershipToken;
}

export interface SyncResult {
  plan: Plan;
  applied: boolean;
  /** Violations of the objects in scope (errors and warnings). */
  violations: Violation[];
  /** Earliest instant something in scope changes by itself (an expiry, a start). */
  nextChangeAt?: Date;
  /** The same per object in scope that changes by itself (refKey `Kind/namespace/name`), from the plan; empty without `objectStates`. */
  nextChangeAtByRef: Map<string, Date>;
  /** One per object in scope (declared, or removed by this sync); empty without `objectStates`. */
  states: ObjectState[];
  /** Counts of what was written, when applied. */
  written?: ApplyResult;
}

export class MassRemovalError extends Error {
  constructor(readonly massRemovals: MassRemoval[]) {
    super(
      massRemovals
        .map(
          (m) =>
            `refusing to remove ${m.removing} of the ${m.total} members of workspace ${m.workspaceId} at once (more than ${Math.round(m.maxShare * 100)}%); check that no file is missing, or allow it with --allow-mass-removal`,
        )
        .join('\n'),
    );
    this.name = 'MassRemovalError';
  }
}

/** The sync was refused: objects break rules once compared with what the store holds. */
export class RuleErrorsError extends Error {
  constructor(readonly violations: Violation[]) {
    super(`rule errors: ${violations.filter((v) => v.severity === 'error').map((v) => `${v.ruleId} ${v.object.kind} ${v.object.namespace}/${v.object.name} ${v.field}`).join('; ')}`);
    this.name = 'RuleErrorsError';
  }
}

/**
 * What the identity store recorded for each declared object, from the rows it
 * owns: the rules compare declarations with it (immutable fields, revocation,
 * resend, a grant's real start, admin tenure).
 */
export function recordedStateOf(observed: ObservedStore): RecordedState {
  const byRef = new Map<string, RecordedObject>();
  const put = (kind: string, row: { managed: boolean; source?: { kind: string; namespace: string; name: string } }, facts: RecordedObject) => {
    if (!row.managed || row.source === undefined || row.source.kind !== kind) return;
    const key = refKey(row.source);
    if (!byRef.has(key)) byRef.set(key, facts);
  };
  for (const row of observed.workspaces.values()) put('Workspace', row, { workspaceId: row.workspaceId, ssoEnforced: row.ssoEnforced });
  for (const row of observed.roles.values()) put('Role', row, { workspaceId: row.workspaceId });
  for (const row of observed.members.values()) {
    put('Member', row, {
      workspaceId: row.workspaceId,
      email: row.email,
      displayName: row.displayName,
      ...(row.invitation !== undefined ? { invitationResend: row.invitation.resendRequested } : {}),
      ...(row.createdAt !== undefined ? { since: row.createdAt } : {}),
    });
  }
  for (const row of observed.grants.values()) {
    put('SupportGrant', row, { workspaceId: row.workspaceId, startsAt: row.startsAt, revokedByDeclaration: row.revokedAt !== undefined && row.revokedCause !== 'SupportAccessOff' });
  }
  return { of: (ref) => byRef.get(refKey(ref)) };
}

interface RuleResult {
  violations: Map<string, Violation[]>;
  held: Set<string>;
}

function checkAll(desired: readonly GatehouseObject[], at: Date, profile: Profile, recorded: RecordedState): RuleResult {
  const byObject = checkObjectsByObject(desired, { at, profile, recorded });
  const violations = new Map<string, Violation[]>();
  const held = new Set<string>();
  desired.forEach((object, i) => {
    const own = byObject[i] ?? [];
    // Only objects with something to report are keyed: nearly all have nothing.
    if (own.length === 0) return;
    const key = refKey(refOfObject(object));
    const earlier = violations.get(key);
    const list = earlier === undefined ? own : [...earlier, ...own];
    violations.set(key, list);
    if (hasErrors(list)) held.add(key);
  });
  return { violations, held };
}

function checkSome(
  objects: readonly GatehouseObject[],
  index: ObjectIndex,
  at: Date,
  profile: Profile,
  recorded: RecordedState,
  into: RuleResult,
): void {
  for (const object of objects) {
    const key = refKey(refOfObject(object));
    if (into.violations.has(key)) continue;
    const list = checkObject(object, { at, profile, index, recorded });
    into.violations.set(key, list);
    if (hasErrors(list)) into.held.add(key);
  }
}

type Declared = ReadonlyMap<string, GatehouseObject>;

function workspaceOf(object: GatehouseObject, declared: Declared): GatehouseObject | undefined {
  if (object.kind === 'Workspace') return object;
  const name = (object.spec as { workspaceRef?: { name?: unknown } } | undefined)?.workspaceRef?.name;
  if (typeof name !== 'string') return undefined;
  return declared.get(refKey({ kind: 'Workspace', namespace: refOfObject(object).namespace, name }));
}

/**
 * The rows a scoped sync reads: its objects' workspaces, rows and owned rows.
 * `counts`: the per-workspace and per-role member counts, which only removals
 * of Workspaces and Roles (RoleInUse) and the mass-removal guard read; a batch
 * of Members or SupportGrants does without them.
 */
function selectionFor(refs: readonly ObjectRef[], declared: Declared, counts = true): ObservedSelection {
  const workspaceIds = new Set<string>();
  const members: Array<{ workspaceId: string; emailNormalized: string }> = [];
  const grants: Array<{ workspaceId: string; name: string }> = [];
  for (const ref of refs) {
    const object = declared.get(refKey(ref));
    if (object === undefined) continue;
    const workspace = workspaceOf(object, declared);
    if (workspace?.kind !== 'Workspace' || typeof workspace.spec?.workspaceId !== 'string') continue;
    const workspaceId = workspace.spec.workspaceId;
    workspaceIds.add(workspaceId);
    if (object.kind === 'Member' && typeof object.spec.email === 'string') {
      members.push({ workspaceId, emailNormalized: normalizeEmail(object.spec.email) });
    }
    if (object.kind === 'SupportGrant') grants.push({ workspaceId, name: object.metadata.name });
  }
  return { type: 'some', workspaceIds: [...workspaceIds], members, grants, sources: [...refs], counts };
}

/**
 * Objects a scoped sync also writes because an in-scope object needs their
 * rows and the store lacks them: its Workspace, and a Member's custom Role.
 */
function dependenciesToCreate(
  refs: readonly ObjectRef[],
  declared: Declared,
  observed: ObservedStore,
  profile: Profile,
): GatehouseObject[] {
  const out = new Map<string, GatehouseObject>();
  const inScope = new Set(refs.map(refKey));
  const add = (object: GatehouseObject) => {
    const key = refKey(refOfObject(object));
    if (!inScope.has(key)) out.set(key, object);
  };
  for (const ref of refs) {
    const object = declared.get(refKey(ref));
    if (object === undefined || object.kind === 'Workspace') continue;
    const workspace = workspaceOf(object, declared);
    if (workspace?.kind !== 'Workspace' || typeof workspace.spec?.workspaceId !== 'string') continue;
    const workspaceId = workspace.spec.workspaceId;
    if (!observed.workspaces.has(workspaceId)) add(workspace);
    if (object.kind === 'Member' && typeof object.spec.role === 'string' && !observed.roles.has(roleKey(workspaceId, object.spec.role))) {
      if (profile.defaultRoles.has(object.spec.role)) add(workspace);
      else {
        const role = declared.get(refKey({ kind: 'Role', namespace: ref.namespace, name: object.spec.role }));
        if (role !== undefined) add(role);
      }
    }
  }
  return [...out.values()];
}

async function countsFor(
  db: Parameters<typeof loadCounts>[0],
  outcomes: readonly ObjectOutcome[],
  profile: Profile,
): Promise<StoreCounts> {
  const ids = [
    ...new Set(
      outcomes.filter((o) => (o.ref.kind === 'Workspace' || o.ref.kind === 'Role') && o.workspaceId !== undefined).map((o) => o.workspaceId as string),
    ),
  ];
  if (ids.length === 0) return { workspaces: new Map(), roles: new Map() };
  return loadCounts(db, ids, grantsAdmin(profile, profile.legacyPermissions));
}

/** Whether planning these refs may remove a Workspace or Role row, which reads the member counts. */
function needsCounts(refs: readonly ObjectRef[]): boolean {
  return refs.some((r) => r.kind === 'Workspace' || r.kind === 'Role');
}

const REMOVAL_OPS = new Set(['delete', 'forget']);

/** Marks creates of rows that existed before (deleted outside Gatehouse) as drift. */
async function markRecreatedRows(db: Parameters<typeof lastActionsOf>[0], plan: Plan): Promise<void> {
  const creates = plan.actions.filter(
    (a) => a.op === 'create' && a.object !== undefined && a.target !== 'catalog' && !(a.target === 'role' && a.object.kind === 'Workspace'),
  );
  if (creates.length === 0) return;
  // A row whose key the declaration moved (its old row is removed in this plan) was not deleted by hand.
  const moved = new Set(plan.actions.filter((a) => REMOVAL_OPS.has(a.op) && a.object !== undefined).map((a) => refKey(a.object as ObjectRef)));
  const head = await db.selectFrom('audit_head').select('seq').executeTakeFirst();
  if (head === undefined) return;
  const last = await lastActionsOf(
    db,
    creates.map((a) => a.object as ObjectRef),
  );
  for (const action of creates) {
    const previous = last.get(refKey(action.object as ObjectRef));
    if (previous === undefined || moved.has(refKey(action.object as ObjectRef))) continue;
    const op = previous.slice(previous.indexOf('.') + 1);
    if (REMOVAL_OPS.has(op)) continue;
    action.drift = true;
    action.reason = `the row was deleted outside Gatehouse; ${action.reason.replace(/^declared and not in the identity store/, 'recreating it')}`;
  }
}

/**
 * Brings the store in line with `desired` for the objects in scope, in one
 * transaction. Objects with rule errors are not written (the rest proceeds);
 * callers that must refuse everything check `violations` first.
 */
export async function syncToStore(store: Store, desired: readonly GatehouseObject[], options: SyncOptions): Promise<SyncResult> {
  const { at, profile, scope } = options;
  // Indexed once per sync, for the sync and the planner alike.
  const declared = declaredObjects(desired);
  const index = scope.type === 'all' ? undefined : (options.index ?? createObjectIndex(desired));
  const wantStates = options.objectStates !== false;

  const work = async (trx: Parameters<Parameters<Store['write']>[0]>[0]) => {
    if (options.fence !== undefined && !options.dryRun) await checkLeadershipFence(trx, options.fence, at);
    const selection: ObservedSelection =
      scope.type === 'all' ? { type: 'all' } : selectionFor(scope.refs, declared, options.removalGuard !== undefined || needsCounts(scope.refs));
    const observed =
      selection.type === 'all' && options.snapshot !== undefined && (await snapshotStillCurrent(trx, options.snapshot))
        ? options.snapshot.observed
        : await loadObserved(trx, selection, store.dialect);
    // The rules run against what the store holds, inside the transaction that writes.
    const recorded = recordedStateOf(observed);
    const rules: RuleResult =
      scope.type === 'all' ? checkAll(desired, at, profile, recorded) : { violations: new Map(), held: new Set() };
    if (scope.type === 'objects' && index !== undefined) {
      const present = scope.refs.map((r) => declared.get(refKey(r))).filter((o): o is GatehouseObject => o !== undefined);
      checkSome(present, index, at, profile, recorded, rules);
    }
    if (options.refuseOnRuleErrors === true && rules.held.size > 0) {
      const inScope = scope.type === 'all' ? undefined : new Set(scope.refs.map(refKey));
      throw new RuleErrorsError(
        [...rules.violations].filter(([key]) => inScope === undefined || inScope.has(key)).flatMap(([, list]) => list),
      );
    }
    let planScope: SyncScope = scope;
    if (scope.type === 'objects' && index !== undefined) {
      const extra = dependenciesToCreate(scope.refs, declared, observed, profile);
      if (extra.length > 0) {
        checkSome(extra, index, at, profile, recorded, rules);
        planScope = { type: 'objects', refs: [...scope.refs, ...extra.map(refOfObject)] };
        if (selection.type === 'some' && selection.counts === false && needsCounts(planScope.refs)) await loadRowCounts(trx, observed);
      }
    }
    const guardOption =
      options.removalGuard !== undefined
        ? { maxShare: options.removalGuard.maxShare }
        : undefined;
    const plan = makePlan(desired, observed, at, {
      profile,
      actor: options.actor,
      scope: planScope,
      held: rules.held,
      ...(options.files !== undefined ? { files: options.files } : {}),
      ...(guardOption !== undefined ? { removalGuard: guardOption } : {}),
      declared,
    });
    await markRecreatedRows(trx, plan);
    if (!options.dryRun && plan.massRemovals.length > 0 && options.removalGuard?.allow !== true) {
      throw new MassRemovalError(plan.massRemovals);
    }
    let written: ApplyResult | undefined;
    if (!options.dryRun && plan.actions.length > 0) {
      written = await applyPlan(trx, plan, { at, actor: options.actor, ...(options.actorOf !== undefined ? { actorOf: options.actorOf } : {}), ...(store.auditKeys !== undefined ? { auditKeys: store.auditKeys } : {}), ...(options.onProgress ? { onProgress: options.onProgress } : {}) });
    }
    const counts = wantStates ? await countsFor(trx, plan.outcomes, profile) : undefined;
    return { plan, counts, written, rules };
  };
  const { plan, counts, written, rules } = options.dryRun ? await store.read(work) : await store.write(work);

  const requested = scope.type === 'all' ? undefined : new Set(scope.refs.map(refKey));
  const states: ObjectState[] = [];
  const violations: Violation[] = [];
  const nextChangeAtByRef = new Map<string, Date>();
  if (counts !== undefined) {
    for (const outcome of plan.outcomes) {
      const key = refKey(outcome.ref);
      if (requested !== undefined && !requested.has(key)) continue;
      const list = rules.violations.get(key) ?? [];
      states.push(objectStateOf(outcome, list, plan.at, counts));
      if (outcome.nextChangeAt !== undefined) nextChangeAtByRef.set(key, new Date(outcome.nextChangeAt));
    }
  }
  for (const [key, list] of rules.violations) {
    if (requested === undefined || requested.has(key)) violations.push(...list);
  }
  return {
    plan,
    applied: !options.dryRun && plan.actions.length > 0,
    violations,
    ...(plan.nextChangeAt !== undefined ? { nextChangeAt: new Date(plan.nextChangeAt) } : {}),
    nextChangeAtByRef,
    states,
    ...(written !== undefined ? { written } : {}),
  };
}

/**
 * The state of some declared objects as the store holds it now, without
 * writing: for changes the application makes (an invitation accepted, a
 * login) and for time passing. A ref absent from `desired` reads as removed.
 */
export async function readObjectStates(
  store: Store,
  desired: readonly GatehouseObject[],
  refs: ObjectRef[],
  at: Date,
  profile?: Profile,
): Promise<ObjectState[]> {
  const declared = declaredObjects(desired);
  const atIso = iso(at);
  return store.read(async (trx) => {
    // Status counts come from loadCounts below; the planner's member counts are not needed.
    const observed = await loadObserved(trx, selectionFor(refs, declared, false));
    const outcomes: ObjectOutcome[] = refs.map((ref) => observedOutcome(ref, declared, observed));
    const legacyIsAdmin = profile !== undefined && grantsAdmin(profile, profile.legacyPermissions);
    const ids = [...new Set(outcomes.filter((o) => o.workspaceId !== undefined && (o.ref.kind === 'Workspace' || o.ref.kind === 'Role')).map((o) => o.workspaceId as string))];
    const counts = ids.length > 0 ? await loadCounts(trx, ids, legacyIsAdmin) : { workspaces: new Map(), roles: new Map() };
    return outcomes.map((o) => objectStateOf(o, [], atIso, counts));
  });
}

function observedOutcome(ref: ObjectRef, declared: Declared, observed: ObservedStore): ObjectOutcome {
  const object = declared.get(refKey(ref));
  if (object === undefined) {
    return { ref, status: 'removed', reason: StateReasons.Removed, message: 'not declared', inStore: false };
  }
  const workspace = workspaceOf(object, declared);
  const workspaceId = workspace?.kind === 'Workspace' && typeof workspace.spec?.workspaceId === 'string' ? workspace.spec.workspaceId : undefined;
  if (workspaceId === undefined) {
    return { ref, status: 'blocked', reason: StateReasons.DependencyNotReady, message: 'its Workspace is not declared', inStore: false };
  }
  const row =
    object.kind === 'Workspace'
      ? observed.workspaces.get(workspaceId)
      : object.kind === 'Role'
        ? observed.roles.get(roleKey(workspaceId, object.metadata.name))
        : object.kind === 'Member'
          ? typeof object.spec?.email === 'string'
            ? observed.members.get(memberKey(workspaceId, normalizeEmail(object.spec.email)))
            : undefined
          : observed.grants.get(grantKey(workspaceId, object.metadata.name));
  if (row === undefined) {
    return {
      ref,
      status: 'blocked',
      workspaceId,
      reason: StateReasons.NotApplied,
      message: 'not in the identity store yet',
      inStore: false,
    };
  }
  if (row.managed && row.source !== undefined && !ownedBy(row, ref)) {
    return {
      ref,
      status: 'conflict',
      workspaceId,
      reason: StateReasons.Conflict,
      message: `the row is owned by ${row.source.kind} ${row.source.namespace}/${row.source.name}`,
      record: row,
      inStore: true,
    };
  }
  return { ref, status: 'in-sync', workspaceId, record: row, inStore: true };
}
