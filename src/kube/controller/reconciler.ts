// Reconciling, controller-runtime style: read each object from the cache
// (never trust an event's payload), make sure the finalizer is on it before
// the store is written, let the engine sync it (the engine re-checks the rules
// and refuses what they forbid), write status once and only if it changed,
// record events for transitions, and say when to come back.
//
// Keys that are ready together are reconciled as one batch: their API calls
// go out in parallel and the engine syncs them in one store transaction.
// Should that transaction fail, each object is tried on its own so one bad
// object cannot hold the others back.
import { FIELD_MANAGER, STORE_FINALIZER, formatRef, workspacePolicy, type AccessReviewStatus, type GatehouseObject, type ObjectRef } from '../../model/index.js';
import { reviewCounts } from '../../review/review.js';
import type { Violation } from '../../rules/types.js';
import type { Clock } from '../../util/clock.js';
import { errorMessage } from '../../util/errors.js';
import type { Logger } from '../../util/log.js';
import { ClusterCache, isTerminating, type CachedObject } from '../cache.js';
import { gatehouseResource, isNotFound, type KubeClient } from '../client.js';
import type { OperatorMetrics } from '../metrics.js';
import type { AuditCheckpoint } from '../../store/audit-key.js';
import type { AccessEngine, EngineSyncResult, ObjectState } from './engine-port.js';
import type { EventRecorder } from './events.js';
import {
  accessReviewDue,
  accessReviewEvent,
  ConditionTypes,
  ControllerReasons,
  deepEqual,
  desiredStatus,
  grantEnded,
  type StatusInput,
  statusMergePatch,
  transitionEvents,
  type Status,
} from './status.js';

export type Result =
  | { type: 'done' }
  /** Come back after `ms` (the next expiry, or a dependency that is not ready yet). */
  | { type: 'requeueAfter'; ms: number; expiryAt?: Date }
  /** Retry with backoff. */
  | { type: 'error'; err: unknown }
  /** Nothing to retry until something changes (a rule forbids the object): status says why. */
  | { type: 'terminal'; reason: string };

export interface ReconcilerOptions {
  client: KubeClient;
  cache: ClusterCache;
  engine: AccessEngine;
  clock: Clock;
  events: EventRecorder;
  log: Logger;
  metrics?: OperatorMetrics;
  /** Wait before trying again an object whose Workspace or Role is not in the store yet. */
  dependencyRetryMs?: number;
  /** API calls in flight at once within a batch. */
  apiConcurrency?: number;
  /** Called with refs to reconcile because of what a reconcile found (dependents, counts). */
  enqueue: (refs: readonly ObjectRef[]) => void;
}

export function refKey(ref: ObjectRef): string {
  return `${ref.kind}/${ref.namespace}/${ref.name}`;
}

export function sameRef(a: ObjectRef, b: ObjectRef): boolean {
  return a.kind === b.kind && a.namespace === b.namespace && a.name === b.name;
}

function refOfCached(object: CachedObject): ObjectRef {
  return { kind: object.kind, namespace: object.metadata.namespace ?? 'default', name: object.metadata.name };
}

function hasFinalizer(object: CachedObject): boolean {
  return (object.metadata.finalizers ?? []).includes(STORE_FINALIZER);
}

/** States that mean "wait for the dependency", not "something broke". */
const DEPENDENCY_REASONS = new Set(['DependencyNotReady']);

/** Runs `fn` over `items` with at most `limit` at once. */
async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const run = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, run));
  return results;
}

export class Reconciler {
  readonly #o: ReconcilerOptions;
  /** Keys whose store cleanup this process just finished: their DELETED event needs no second cleanup. */
  readonly #cleaned = new Set<string>();

  constructor(options: ReconcilerOptions) {
    this.#o = options;
  }

  async reconcile(ref: ObjectRef): Promise<Result> {
    const results = await this.reconcileBatch([ref]);
    return results.get(refKey(ref)) ?? { type: 'done' };
  }

  /** Reconciles several objects; one Result per ref key. Never throws. */
  async reconcileBatch(refs: readonly ObjectRef[]): Promise<Map<string, Result>> {
    const results = new Map<string, Result>();
    const at = this.#o.clock.now();
    const alive: CachedObject[] = [];
    for (const ref of refs) {
      const object = this.#o.cache.get(ref.kind, ref.namespace, ref.name) as CachedObject | undefined;
      try {
        if (object === undefined) {
          const cleaned = this.#cleaned.delete(refKey(ref));
          results.set(refKey(ref), cleaned ? { type: 'done' } : await this.#forgetGone(ref, at));
        }
        else if (isTerminating(object)) results.set(refKey(ref), await this.#finalize(object, at));
        else alive.push(object);
      } catch (err) {
        results.set(refKey(ref), { type: 'error', err });
      }
    }
    if (alive.length > 0) {
      try {
        for (const [key, result] of await this.#syncAll(alive, at)) results.set(key, result);
      } catch (err) {
        for (const object of alive) if (!results.has(refKey(refOfCached(object)))) results.set(refKey(refOfCached(object)), { type: 'error', err });
      }
    }
    return results;
  }

  async #syncAll(objects: CachedObject[], at: Date): Promise<Map<string, Result>> {
    const results = new Map<string, Result>();
    // The finalizer goes on before anything is written to the store, so a deletion always cleans up.
    const ready = (
      await mapLimit(objects, this.#o.apiConcurrency ?? 16, async (object) => {
        if (hasFinalizer(object)) return object;
        const ref = refOfCached(object);
        try {
          const patched = await this.#patchFinalizers(object, [...(object.metadata.finalizers ?? []), STORE_FINALIZER]);
          this.#o.log.info({ ...logRef(ref), finalizer: STORE_FINALIZER }, 'finalizer added');
          return patched;
        } catch (err) {
          results.set(refKey(ref), isNotFound(err) ? { type: 'done' } : { type: 'error', err });
          return undefined;
        }
      })
    ).filter((o): o is CachedObject => o !== undefined);
    if (ready.length === 0) return results;

    const refs = ready.map(refOfCached);
    const desired = this.#context(ready);
    let result: EngineSyncResult;
    try {
      result = await this.#timedSync(desired, refs, at);
    } catch (err) {
      if (ready.length > 1) {
        // Try each on its own: the failure may belong to one of them only.
        this.#o.log.warn({ objects: ready.length, err: errorMessage(err) }, 'batch sync failed; syncing one by one');
        for (const object of ready) {
          for (const [key, single] of await this.#syncAll([object], at)) results.set(key, single);
        }
        return results;
      }
      const object = ready[0] as CachedObject;
      const message = `The identity store could not be updated: ${errorMessage(err)}`;
      await this.#writeStatus(object, desiredStatus({ object, violations: [], at, failure: { reason: ControllerReasons.StoreError, message } }), []).catch(() => undefined);
      results.set(refKey(refOfCached(object)), { type: 'error', err });
      return results;
    }

    const changedKeys = new Set(result.changed.map(refKey));
    await mapLimit(ready, this.#o.apiConcurrency ?? 16, async (object) => {
      const ref = refOfCached(object);
      results.set(refKey(ref), await this.#finishSync(object, ref, result, changedKeys.has(refKey(ref)), at));
    });
    return results;
  }

  async #finishSync(object: CachedObject, ref: ObjectRef, result: EngineSyncResult, storeChanged: boolean, at: Date): Promise<Result> {
    const state = result.states.find((s) => sameRef(s.ref, ref));
    const violations = result.violations.filter((v) => sameRef(v.object, ref));
    const { failed, ...periodic } = await this.#periodic(object, ref, state, at);
    const next = desiredStatus({ object, violations, at, ...(state ? { state } : {}), ...periodic });
    const before = object.status as Status | undefined;
    let written: boolean;
    try {
      written = await this.#writeStatus(object, next, violations);
    } catch (err) {
      if (isNotFound(err)) return { type: 'done' };
      return { type: 'error', err };
    }
    const line = {
      ...logRef(ref),
      generation: object.metadata.generation,
      phase: next.phase,
      reason: state?.reason,
      storeChanged,
      statusWritten: written,
      violations: violations.map((v) => v.ruleId),
    };
    // An action is logged at info; a reconcile that found nothing to do (a resync) only at debug.
    if (written || storeChanged) this.#o.log.info(line, 'reconciled');
    else this.#o.log.debug(line, 'reconciled (no change)');
    this.#followDependents(object, before, next);
    // Its Workspace (and a Member's Role) count what changed.
    if (storeChanged && object.kind !== 'Workspace') this.#o.enqueue(this.#dependentsOf(object));

    if (failed !== undefined) return { type: 'error', err: failed };
    if (state !== undefined && DEPENDENCY_REASONS.has(state.reason)) {
      return { type: 'requeueAfter', ms: this.#o.dependencyRetryMs ?? 2000 };
    }
    let nextChangeAt = result.nextChangeAtByRef.get(refKey(ref));
    // A batch of one: the engine's own figure is exact.
    if (result.states.length === 1 && result.nextChangeAt !== undefined) nextChangeAt = result.nextChangeAt;
    // The next access review is a time to come back too (never polled for).
    const reviewAt = periodic.accessReview !== undefined ? new Date(periodic.accessReview.nextReviewAt) : undefined;
    if (reviewAt !== undefined && (nextChangeAt === undefined || reviewAt < nextChangeAt)) {
      return { type: 'requeueAfter', ms: Math.max(1, reviewAt.getTime() - this.#o.clock.now().getTime()) };
    }
    if (nextChangeAt !== undefined) {
      const ms = Math.max(1, nextChangeAt.getTime() - this.#o.clock.now().getTime());
      return { type: 'requeueAfter', ms, expiryAt: nextChangeAt };
    }
    const errors = violations.filter((v) => v.severity === 'error');
    if (errors.length > 0) return { type: 'terminal', reason: (errors[0] as Violation).ruleId };
    return { type: 'done' };
  }

  /**
   * What status records besides the engine's state: a Workspace's access
   * review, run when due, and an ended SupportGrant's evidence digest,
   * computed once. A failure keeps what status said and is retried with backoff.
   */
  async #periodic(
    object: CachedObject,
    ref: ObjectRef,
    state: ObjectState | undefined,
    at: Date,
  ): Promise<Pick<StatusInput, 'accessReview' | 'evidenceDigest'> & { failed?: unknown }> {
    const engine = this.#o.engine;
    const current = (object.status ?? {}) as Status;
    if (state === undefined || !state.inStore) return {};
    if (object.kind === 'Workspace' && engine.reviewWorkspace !== undefined) {
      const intervalMs = workspacePolicy(object).accessReviewIntervalMs;
      let summary = current.accessReview as AccessReviewStatus | undefined;
      let failed: unknown;
      if (accessReviewDue(summary, intervalMs, at)) {
        try {
          const review = await engine.reviewWorkspace(object.spec.workspaceId, at);
          if (review !== undefined) summary = { lastReviewedAt: at.toISOString(), ...reviewCounts(review) };
          this.#o.log.info({ ...logRef(ref), findings: review?.findings }, 'access review ran');
        } catch (err) {
          failed = err;
        }
      }
      const out = failed !== undefined ? { failed } : {};
      if (summary === undefined) return out;
      return { ...out, accessReview: { summary, nextReviewAt: new Date(Date.parse(summary.lastReviewedAt) + intervalMs).toISOString() } };
    }
    if (object.kind === 'SupportGrant' && grantEnded(state.phase) && current.evidenceDigest === undefined && engine.grantEvidenceDigest !== undefined) {
      try {
        const digest = await engine.grantEvidenceDigest(ref);
        return digest !== undefined ? { evidenceDigest: digest } : {};
      } catch (err) {
        return { failed: err };
      }
    }
    return {};
  }

  /**
   * What the engine plans a batch with: the batch's objects and what they
   * refer to (their Workspace, a Member's Role, a grant's Member). The rules
   * read the rest of the cluster (siblings, other Workspaces' ids) through the
   * live index, so a batch costs what it touches, not the size of its
   * workspaces or of the cluster. These are the cache's own objects, not copies.
   */
  #context(objects: readonly CachedObject[]): GatehouseObject[] {
    const live = this.#o.cache.live();
    const context = new Map<string, GatehouseObject>();
    const add = (o: GatehouseObject | undefined) => {
      if (o !== undefined) context.set(`${o.kind}/${o.metadata.namespace}/${o.metadata.name}`, o);
    };
    for (const object of objects) {
      add(object);
      const namespace = object.metadata.namespace ?? 'default';
      const workspace = object.kind === 'Workspace' ? undefined : ClusterCache.workspaceOf(object);
      if (workspace !== undefined) add(live.get('Workspace', namespace, workspace));
      if (object.kind === 'Member' && typeof object.spec.role === 'string') add(live.get('Role', namespace, object.spec.role));
      if (object.kind === 'SupportGrant') {
        const target = (object.spec.scope as { memberRef?: { name?: unknown } } | undefined)?.memberRef?.name;
        if (typeof target === 'string') add(live.get('Member', namespace, target));
      }
    }
    return [...context.values()];
  }

  /** Cleans up the store for an object being deleted; only then releases it. */
  async #finalize(object: CachedObject, at: Date): Promise<Result> {
    if (!hasFinalizer(object)) return { type: 'done' };
    const ref = refOfCached(object);
    const desired = this.#o.cache.contextFor(ref.namespace, ClusterCache.workspaceOf(object));
    let state: ObjectState | undefined;
    try {
      const result = await this.#timedSync(desired, [ref], at);
      state = result.states.find((s) => sameRef(s.ref, ref));
    } catch (err) {
      const message = `Deleting the object's rows from the identity store failed; retrying: ${errorMessage(err)}`;
      const status = desiredStatus({ object, violations: [], at, terminating: true, failure: { reason: ControllerReasons.CleanupFailed, message } });
      await this.#writeStatus(object, status, []).catch(() => undefined);
      return { type: 'error', err };
    }
    if (state !== undefined && state.inStore && state.reason !== 'Orphaned') {
      // The engine kept the rows (a Role still assigned to members): hold the object and say why.
      const status = desiredStatus({ object, violations: state.violations, at, terminating: true, failure: { reason: state.reason, message: state.message } });
      try {
        await this.#writeStatus(object, status, state.violations);
      } catch (err) {
        if (!isNotFound(err)) return { type: 'error', err };
      }
      return { type: 'requeueAfter', ms: 30_000 };
    }
    try {
      await this.#patchFinalizers(object, (object.metadata.finalizers ?? []).filter((f) => f !== STORE_FINALIZER));
    } catch (err) {
      if (isNotFound(err)) return { type: 'done' };
      return { type: 'error', err };
    }
    const reason = state?.reason === 'Orphaned' ? 'Orphaned' : object.kind === 'Member' || object.kind === 'SupportGrant' ? 'Revoked' : (state?.reason ?? 'Removed');
    const note =
      reason === 'Orphaned'
        ? 'Deleted with deletionPolicy Orphan: its rows stay in the identity store, no longer managed.'
        : `Deleted: its rows were removed from the identity store${reason === 'Revoked' ? ' and its access revoked' : ''}.`;
    this.#cleaned.add(refKey(ref));
    if (this.#cleaned.size > 10_000) this.#cleaned.delete(this.#cleaned.values().next().value as string);
    this.#o.events.record(object, { type: 'Normal', reason, note }, 'Delete');
    this.#o.log.info({ ...logRef(ref), finalizer: STORE_FINALIZER, outcome: reason }, 'store cleaned up; finalizer removed');
    this.#o.enqueue(this.#dependentsOf(object));
    return { type: 'done' };
  }

  /** The object is gone from the cluster without our finalizer's cleanup: make sure its rows are gone too. */
  async #forgetGone(ref: ObjectRef, at: Date): Promise<Result> {
    const desired = this.#o.cache.contextFor(ref.namespace, ref.kind === 'Workspace' ? ref.name : undefined);
    try {
      const result = await this.#timedSync(desired, [ref], at);
      if (result.changes > 0) this.#o.log.info({ ...logRef(ref), storeChanges: result.changes }, 'removed the rows of an object deleted without cleanup');
    } catch (err) {
      return { type: 'error', err };
    }
    return { type: 'done' };
  }

  async #timedSync(desired: readonly GatehouseObject[], refs: ObjectRef[], at: Date): Promise<EngineSyncResult> {
    const started = performance.now();
    let result: EngineSyncResult;
    try {
      result = await this.#o.engine.sync(desired, { type: 'objects', refs }, at, this.#o.cache.live());
    } finally {
      this.#o.metrics?.storeDuration.observe({ operation: 'sync' }, (performance.now() - started) / 1000);
    }
    if (result.auditCheckpoint !== undefined) this.#exportCheckpoint(result.auditCheckpoint, desired, refs);
    return result;
  }

  /**
   * Copies the audit log's signed head out of the store: a log line and an
   * Event on the object reconciled, so truncating the log shows against them
   * (gatehouse audit --verify --checkpoint).
   */
  #exportCheckpoint(checkpoint: AuditCheckpoint, desired: readonly GatehouseObject[], refs: readonly ObjectRef[]): void {
    this.#o.log.info({ auditCheckpoint: checkpoint }, 'audit checkpoint');
    const object = desired.find((o) => refs.some((r) => r.kind === o.kind && r.namespace === o.metadata.namespace && r.name === o.metadata.name));
    if (object !== undefined) {
      this.#o.events.record(object as unknown as CachedObject, { type: 'Normal', reason: ControllerReasons.AuditCheckpoint, note: JSON.stringify(checkpoint) }, 'Reconcile');
    }
  }

  async #patchFinalizers(object: CachedObject, finalizers: string[]): Promise<CachedObject> {
    const ref = refOfCached(object);
    const patched = await this.#o.client.patch<CachedObject>(
      gatehouseResource(ref.kind),
      ref.namespace,
      ref.name,
      { metadata: { finalizers, resourceVersion: object.metadata.resourceVersion } },
      { type: 'merge', fieldManager: FIELD_MANAGER },
    );
    // The cache's copy: the one the live index holds, so the rules see the batch's objects as indexed.
    return this.#o.cache.informers[ref.kind].observe(patched);
  }

  /** Writes status through the status subresource when it differs; records the transition events. */
  async #writeStatus(object: CachedObject, next: Status, violations: readonly Violation[]): Promise<boolean> {
    const before = object.status as Status | undefined;
    if (deepEqual(before ?? {}, next)) return false;
    const ref = refOfCached(object);
    const patched = await this.#o.client.patch<CachedObject>(
      gatehouseResource(ref.kind),
      ref.namespace,
      ref.name,
      { metadata: { resourceVersion: object.metadata.resourceVersion }, status: statusMergePatch(before, next) },
      { type: 'merge', subresource: 'status', fieldManager: FIELD_MANAGER },
    );
    this.#o.cache.informers[ref.kind].observe(patched);
    for (const event of transitionEvents(ref.kind, before, next, violations)) this.#o.events.record(patched, event, 'Reconcile');
    const review = object.kind === 'Workspace' ? accessReviewEvent(object.spec.workspaceId, before, next) : undefined;
    if (review !== undefined) this.#o.events.record(patched, review, 'AccessReview');
    return true;
  }

  /** A Workspace or Role that just became usable (or stopped being so) unblocks the objects that use it. */
  #followDependents(object: CachedObject, before: Status | undefined, after: Status): void {
    if (object.kind !== 'Workspace' && object.kind !== 'Role') return;
    const was = before?.conditions?.find((c) => c.type === ConditionTypes.Synced)?.status;
    const now = after.conditions?.find((c) => c.type === ConditionTypes.Synced)?.status;
    if (was === now) return;
    this.#o.enqueue(this.#dependentsOf(object));
  }

  #dependentsOf(object: CachedObject): ObjectRef[] {
    const namespace = object.metadata.namespace ?? 'default';
    if (object.kind === 'Workspace') return this.#o.cache.inWorkspace(namespace, object.metadata.name).map(refOfCached);
    if (object.kind === 'Role') {
      const workspace = ClusterCache.workspaceOf(object);
      return workspace === undefined ? [] : this.#o.cache.membersWithRole(namespace, workspace, object.metadata.name).map(refOfCached);
    }
    const workspace = ClusterCache.workspaceOf(object);
    if (workspace === undefined) return [];
    const refs: ObjectRef[] = [{ kind: 'Workspace', namespace, name: workspace }];
    const role = object.kind === 'Member' ? object.spec.role : undefined;
    if (role !== undefined && this.#o.cache.get('Role', namespace, role) !== undefined) refs.push({ kind: 'Role', namespace, name: role });
    return refs;
  }
}

function logRef(ref: ObjectRef): Record<string, string> {
  return { kind: ref.kind, namespace: ref.namespace, name: ref.name, object: formatRef(ref) };
}
