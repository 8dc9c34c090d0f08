// One reconcile of one object, controller-runtime style: read the object from
// the cache (never trust an event's payload), make sure the finalizer is on it
// before the store is written, let the engine sync it (the engine re-checks
// the rules and refuses what they forbid), write status once and only if it
// changed, record events for transitions, and say when to come back.
import { FIELD_MANAGER, STORE_FINALIZER, formatRef, type GatehouseObject, type ObjectRef } from '../../model/index.js';
import type { Violation } from '../../rules/types.js';
import type { Clock } from '../../util/clock.js';
import { errorMessage } from '../../util/errors.js';
import type { Logger } from '../../util/log.js';
import { ClusterCache, isTerminating, type CachedObject } from '../cache.js';
import { gatehouseResource, isConflict, isNotFound, type KubeClient } from '../client.js';
import type { OperatorMetrics } from '../metrics.js';
import type { AccessEngine, EngineSyncResult, ObjectState } from './engine-port.js';
import type { EventRecorder } from './events.js';
import {
  ConditionTypes,
  ControllerReasons,
  deepEqual,
  desiredStatus,
  statusMergePatch,
  transitionEvents,
  type EventSpec,
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
  /** Called with keys to reconcile because of what this reconcile found (dependents of a newly ready Workspace). */
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

/** Engine failures that mean "wait for the dependency", not "something broke". */
const DEPENDENCY_REASONS = new Set(['DependencyNotReady']);

export class Reconciler {
  readonly #o: ReconcilerOptions;

  constructor(options: ReconcilerOptions) {
    this.#o = options;
  }

  async reconcile(ref: ObjectRef): Promise<Result> {
    const object = this.#o.cache.get(ref.kind, ref.namespace, ref.name) as CachedObject | undefined;
    const at = this.#o.clock.now();
    if (object === undefined) return this.#forgetGone(ref, at);
    if (isTerminating(object)) return this.#finalize(object, at);
    return this.#sync(object, at);
  }

  async #sync(object: CachedObject, at: Date): Promise<Result> {
    const ref = refOfCached(object);
    let current = object;
    if (!hasFinalizer(current)) {
      // The finalizer goes on before anything is written to the store, so a deletion always cleans up.
      try {
        current = await this.#patchFinalizers(current, [...(current.metadata.finalizers ?? []), STORE_FINALIZER]);
      } catch (err) {
        if (isNotFound(err)) return { type: 'done' };
        return { type: 'error', err };
      }
      this.#o.log.info({ ...logRef(ref), finalizer: STORE_FINALIZER }, 'finalizer added');
    }

    const desired = this.#o.cache.contextFor(ref.namespace, ClusterCache.workspaceOf(current));
    let result: EngineSyncResult;
    try {
      result = await this.#timedSync(desired, ref, at);
    } catch (err) {
      const message = `The identity store could not be updated: ${errorMessage(err)}`;
      await this.#writeStatus(current, desiredStatus({ object: current, violations: [], at, failure: { reason: ControllerReasons.StoreError, message } }), []).catch(() => undefined);
      return { type: 'error', err };
    }
    const state = result.states.find((s) => sameRef(s.ref, ref));
    const violations = result.violations.filter((v) => sameRef(v.object, ref));
    const next = desiredStatus({ object: current, violations, at, ...(state ? { state } : {}) });
    const before = current.status as Status | undefined;
    let written: boolean;
    try {
      written = await this.#writeStatus(current, next, violations);
    } catch (err) {
      if (isNotFound(err)) return { type: 'done' };
      return { type: 'error', err };
    }
    this.#o.log.info(
      {
        ...logRef(ref),
        generation: current.metadata.generation,
        phase: next.phase,
        reason: state?.reason,
        storeChanges: result.changes,
        statusWritten: written,
        violations: violations.map((v) => v.ruleId),
      },
      written || result.changes > 0 ? 'reconciled' : 'reconciled (no change)',
    );
    this.#followDependents(current, before, next);
    if (result.changes > 0 && current.kind !== 'Workspace') {
      // Its Workspace (and a Member's Role) count what changed.
      this.#o.enqueue(this.#dependentsOf(current));
    }

    if (state !== undefined && DEPENDENCY_REASONS.has(state.reason)) {
      return { type: 'requeueAfter', ms: this.#o.dependencyRetryMs ?? 2000 };
    }
    if (result.nextChangeAt !== undefined) {
      const ms = Math.max(1, result.nextChangeAt.getTime() - this.#o.clock.now().getTime());
      return { type: 'requeueAfter', ms, expiryAt: result.nextChangeAt };
    }
    const errors = violations.filter((v) => v.severity === 'error');
    if (errors.length > 0) return { type: 'terminal', reason: (errors[0] as Violation).ruleId };
    return { type: 'done' };
  }

  /** Cleans up the store for an object being deleted; only then releases it. */
  async #finalize(object: CachedObject, at: Date): Promise<Result> {
    if (!hasFinalizer(object)) return { type: 'done' };
    const ref = refOfCached(object);
    const desired = this.#o.cache.contextFor(ref.namespace, ClusterCache.workspaceOf(object));
    let state: ObjectState | undefined;
    try {
      const result = await this.#timedSync(desired, ref, at);
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
      const released = await this.#patchFinalizers(object, (object.metadata.finalizers ?? []).filter((f) => f !== STORE_FINALIZER));
      void released;
    } catch (err) {
      if (isNotFound(err)) return { type: 'done' };
      return { type: 'error', err };
    }
    const reason = state?.reason === 'Orphaned' ? 'Orphaned' : object.kind === 'Member' || object.kind === 'SupportGrant' ? 'Revoked' : (state?.reason ?? 'Removed');
    const note =
      reason === 'Orphaned'
        ? 'Deleted with deletionPolicy Orphan: its rows stay in the identity store, no longer managed.'
        : `Deleted: its rows were removed from the identity store${reason === 'Revoked' ? ' and its access revoked' : ''}.`;
    this.#o.events.record(object, { type: 'Normal', reason, note }, 'Delete');
    this.#o.log.info({ ...logRef(ref), finalizer: STORE_FINALIZER, outcome: reason }, 'store cleaned up; finalizer removed');
    this.#o.enqueue(this.#dependentsOf(object));
    return { type: 'done' };
  }

  /** The object is gone from the cluster without our finalizer's cleanup: make sure its rows are gone too. */
  async #forgetGone(ref: ObjectRef, at: Date): Promise<Result> {
    const desired = this.#o.cache.contextFor(ref.namespace, ref.kind === 'Workspace' ? ref.name : undefined);
    try {
      const result = await this.#timedSync(desired, ref, at);
      if (result.changes > 0) this.#o.log.info({ ...logRef(ref), storeChanges: result.changes }, 'removed the rows of an object deleted without cleanup');
    } catch (err) {
      return { type: 'error', err };
    }
    return { type: 'done' };
  }

  async #timedSync(desired: readonly GatehouseObject[], ref: ObjectRef, at: Date): Promise<EngineSyncResult> {
    const started = performance.now();
    try {
      return await this.#o.engine.sync(desired, { type: 'objects', refs: [ref] }, at, this.#o.cache.live());
    } finally {
      this.#o.metrics?.storeDuration.observe({ operation: 'sync' }, (performance.now() - started) / 1000);
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
    this.#o.cache.informers[ref.kind].observe(patched);
    return patched;
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
    for (const event of transitionEvents(ref.kind, before, next, violations)) this.#recordEvent(patched, event);
    return true;
  }

  #recordEvent(object: CachedObject, event: EventSpec): void {
    this.#o.events.record(object, event, 'Reconcile');
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
