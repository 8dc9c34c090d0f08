// The controller: informers feed a work queue with keys (Kind/namespace/name),
// workers reconcile them one key at a time. Only the leader reconciles; the
// cache runs on every instance (the webhook reads it, and a standby takes
// over with a warm cache).
//
// What enqueues what:
// - a change to an object enqueues it, unless only its status or metadata
//   changed (same generation, finalizers and deletionTimestamp);
// - a Member or SupportGrant change also enqueues its Workspace (counts), a
//   Member's custom Role (member count), Members sharing its email (a conflict
//   shows on both) and, when admins change, the workspace's admins (TooManyAdmins);
// - a Role change enqueues the Members that have it and its Workspace;
// - a Workspace change enqueues everything in it and Workspaces with the same id;
// - the resync period enqueues everything (drift correction);
// - the store poll enqueues Members whose invitation or last login changed in
//   the store (the application's doing), so status follows without a spec change;
// - a reconcile asks to come back at the next expiry, to the millisecond.
import { STORE_FINALIZER, grantsAdmin, type GatehouseObject, type Kind, type ObjectRef, type Profile, KIND_NAMES } from '../../model/index.js';
import type { Cancel, Clock } from '../../util/clock.js';
import { errorMessage } from '../../util/errors.js';
import type { Logger } from '../../util/log.js';
import { ClusterCache, isTerminating, type CachedObject } from '../cache.js';
import type { KubeClient } from '../client.js';
import type { InformerEvent } from '../informer.js';
import type { OperatorMetrics } from '../metrics.js';
import { WorkQueue, runBatchWorkers, type BackoffOptions, type RateLimitOptions } from '../workqueue.js';
import type { AccessEngine, ObjectState } from './engine-port.js';
import { EventRecorder } from './events.js';
import { Reconciler, refKey, type Result } from './reconciler.js';
import { phaseFor, type Status } from './status.js';

export interface ControllerOptions {
  client: KubeClient;
  engine: AccessEngine;
  profile: Profile;
  /** Time for expiry, resync and the store poll. */
  clock: Clock;
  /** Namespaces to watch; absent or empty: all. */
  namespaces?: readonly string[];
  workers?: number;
  /** Most keys one worker reconciles together (one store transaction). */
  maxBatch?: number;
  resyncPeriodMs?: number;
  storePollMs?: number;
  backoff?: BackoffOptions;
  rateLimit?: RateLimitOptions;
  /** Reconnect backoff of the watches (wall time by default). */
  informerClock?: Clock;
  identity: string;
  log: Logger;
  metrics?: OperatorMetrics;
  dependencyRetryMs?: number;
}

export const DEFAULT_WORKERS = 4;
export const DEFAULT_MAX_BATCH = 32;
export const DEFAULT_RESYNC_PERIOD_MS = 10 * 60_000;
export const DEFAULT_STORE_POLL_MS = 3_000;
const POLL_BATCH = 500;
/** How far before the last poll the next one looks, for application clocks that lag. */
const POLL_LOOKBACK_MS = 5 * 60_000;

export function parseKey(key: string): ObjectRef {
  const [kind, namespace, ...rest] = key.split('/');
  return { kind: kind as Kind, namespace: namespace ?? 'default', name: rest.join('/') };
}

/** Only a change the controller must act on: spec (generation), finalizers, or deletion. */
export function needsReconcile(event: InformerEvent<CachedObject>): boolean {
  if (event.type !== 'update') return true;
  const { object, old } = event;
  if (object.metadata.generation !== old.metadata.generation) return true;
  if ((object.metadata.deletionTimestamp ?? null) !== (old.metadata.deletionTimestamp ?? null)) return true;
  const a = object.metadata.finalizers ?? [];
  const b = old.metadata.finalizers ?? [];
  if (a.length === b.length && a.every((f, i) => f === b[i])) return false;
  // Our own finalizer being added is the reconcile in progress; anything else is news.
  const added = a.filter((f) => !b.includes(f));
  const removed = b.filter((f) => !a.includes(f));
  return !(removed.length === 0 && added.length === 1 && added[0] === STORE_FINALIZER);
}

function refOf(object: CachedObject): ObjectRef {
  return { kind: object.kind, namespace: object.metadata.namespace ?? 'default', name: object.metadata.name };
}

export class Controller {
  readonly cache: ClusterCache;
  readonly events: EventRecorder;
  readonly #o: ControllerOptions;
  readonly #reconciler: Reconciler;
  #queue: WorkQueue | undefined;
  #workers: Promise<void> | undefined;
  #timers: Cancel[] = [];
  /** Keys waiting for an expiry, with the instant it is due (for the lateness metric). */
  readonly #expiryDue = new Map<string, number>();
  #polling = false;
  #pollCursor: Date | undefined;

  constructor(options: ControllerOptions) {
    this.#o = options;
    this.cache = new ClusterCache({
      client: options.client,
      ...(options.namespaces ? { namespaces: options.namespaces } : {}),
      ...(options.informerClock ? { clock: options.informerClock } : {}),
      log: options.log,
    });
    this.events = new EventRecorder({
      client: options.client,
      instance: options.identity,
      clock: options.clock,
      log: options.log,
      workspace: (namespace, name) => this.cache.informers.Workspace.get(namespace, name),
    });
    this.#reconciler = new Reconciler({
      client: options.client,
      cache: this.cache,
      engine: options.engine,
      clock: options.clock,
      events: this.events,
      log: options.log,
      ...(options.metrics ? { metrics: options.metrics } : {}),
      ...(options.dependencyRetryMs !== undefined ? { dependencyRetryMs: options.dependencyRetryMs } : {}),
      enqueue: (refs) => this.enqueue(refs),
    });
    this.cache.onChange((kind, event) => this.#onChange(kind, event));
    options.metrics?.setQueueDepthSource(() => this.#queue?.length ?? 0);
  }

  /** Starts the informers (every instance). */
  start(): void {
    this.cache.start();
  }

  waitForSync(timeoutMs?: number): Promise<void> {
    return this.cache.waitForSync(timeoutMs);
  }

  get reconciling(): boolean {
    return this.#queue !== undefined && !this.#queue.shuttingDown;
  }

  get queue(): WorkQueue | undefined {
    return this.#queue;
  }

  /** Keys being processed or waiting, for tests and shutdown. */
  get busy(): boolean {
    const q = this.#queue;
    return q !== undefined && (q.length > 0 || q.processingCount > 0);
  }

  /** Starts the workers (the leader). Everything is enqueued: Workspaces first, then Roles, Members, SupportGrants. */
  startReconciling(): void {
    if (this.reconciling) return;
    const queue = new WorkQueue({
      clock: this.#o.clock,
      ...(this.#o.backoff ? { backoff: this.#o.backoff } : {}),
      ...(this.#o.rateLimit ? { rateLimit: this.#o.rateLimit } : {}),
    });
    this.#queue = queue;
    this.#pollCursor = this.#o.clock.now();
    this.#enqueueAll();
    void this.sweepGone();
    this.#workers = runBatchWorkers(queue, this.#o.workers ?? DEFAULT_WORKERS, this.#o.maxBatch ?? DEFAULT_MAX_BATCH, (keys) => this.#process(queue, keys));
    this.#o.metrics?.leader.set(1);
    this.#every(this.#o.resyncPeriodMs ?? DEFAULT_RESYNC_PERIOD_MS, () => {
      this.#o.log.debug({ objects: this.cache.size }, 'periodic resync');
      this.#enqueueAll();
      void this.sweepGone();
    });
    const pollMs = this.#o.storePollMs ?? DEFAULT_STORE_POLL_MS;
    if (pollMs > 0) this.#every(pollMs, () => void this.pollStore());
    this.#o.log.info({ workers: this.#o.workers ?? DEFAULT_WORKERS, objects: this.cache.size }, 'reconciling');
  }

  /**
   * Stops the workers. With `drop` (leadership lost) keys not yet started are
   * dropped at once; in-flight reconciles finish either way.
   */
  async stopReconciling(options: { drop?: boolean } = {}): Promise<void> {
    const queue = this.#queue;
    if (queue === undefined) return;
    for (const cancel of this.#timers) cancel();
    this.#timers = [];
    this.#expiryDue.clear();
    await queue.shutdown({ dropQueued: options.drop ?? true });
    await this.#workers?.catch(() => undefined);
    if (this.#queue === queue) this.#queue = undefined;
    this.#o.metrics?.leader.set(0);
    this.#o.log.info({}, 'stopped reconciling');
  }

  async stop(): Promise<void> {
    await this.stopReconciling({ drop: true });
    await this.cache.stop();
    await this.events.flush();
  }

  enqueue(refs: readonly ObjectRef[]): void {
    const queue = this.#queue;
    if (queue === undefined) return;
    for (const key of new Set(refs.map(refKey))) queue.add(key);
  }

  /**
   * Finds Members the application changed in the store (invitation accepted,
   * login) and enqueues those whose status does not show it yet. With an
   * engine that answers changedSince this is one cheap query; otherwise the
   * invited and active Members are read back in batches.
   */
  async pollStore(): Promise<number> {
    if (this.#polling || !this.reconciling) return 0;
    this.#polling = true;
    const startedAt = this.#o.clock.now();
    let changed = 0;
    try {
      changed = this.#o.engine.changedSince !== undefined ? await this.#pollChanges(startedAt) : await this.#pollStates(startedAt);
      if (changed > 0) this.#o.log.info({ members: changed }, 'store poll: application-side changes found');
    } catch (err) {
      this.#o.log.warn({ err: errorMessage(err) }, 'store poll failed');
    } finally {
      this.#polling = false;
    }
    return changed;
  }

  async #pollChanges(startedAt: Date): Promise<number> {
    // The application's timestamps come from its own clock: look back generously; status comparison drops repeats.
    const cursor = this.#pollCursor ?? startedAt;
    const since = new Date(Math.min(cursor.getTime(), startedAt.getTime()) - POLL_LOOKBACK_MS);
    const started = performance.now();
    const changes = await (this.#o.engine.changedSince as NonNullable<AccessEngine['changedSince']>)(since);
    this.#o.metrics?.storeDuration.observe({ operation: 'poll' }, (performance.now() - started) / 1000);
    this.#pollCursor = startedAt;
    let changed = 0;
    for (const change of changes) {
      const member = this.cache.get('Member', change.ref.namespace, change.ref.name) as CachedObject | undefined;
      if (member === undefined || isTerminating(member)) continue;
      const status = member.status as Status | undefined;
      const invitation = status?.invitation as { state?: string } | undefined;
      const accepted = change.acceptedAt !== undefined && invitation?.state !== 'Completed';
      const loggedIn = change.lastLoginAt !== undefined && change.lastLoginAt !== status?.lastLoginAt;
      if (accepted || loggedIn) {
        changed += 1;
        this.#queue?.add(refKey(change.ref));
      }
    }
    return changed;
  }

  async #pollStates(at: Date): Promise<number> {
    const members = this.cache.list('Member') as unknown as CachedObject[];
    const watched = members.filter((m) => !isTerminating(m) && ['Invited', 'Active'].includes(String((m.status as Status | undefined)?.phase)));
    if (watched.length === 0) return 0;
    const desired = this.cache.snapshot();
    let changed = 0;
    for (let i = 0; i < watched.length; i += POLL_BATCH) {
      const batch = watched.slice(i, i + POLL_BATCH);
      const started = performance.now();
      const states = await this.#o.engine.readStates(desired, batch.map(refOf), at);
      this.#o.metrics?.storeDuration.observe({ operation: 'read' }, (performance.now() - started) / 1000);
      const byKey = new Map(states.map((s) => [refKey(s.ref), s]));
      for (const member of batch) {
        const state = byKey.get(refKey(refOf(member)));
        if (state !== undefined && appChanged(member.status as Status | undefined, state)) {
          changed += 1;
          this.#queue?.add(refKey(refOf(member)));
        }
      }
    }
    return changed;
  }

  #every(ms: number, fn: () => void): void {
    const arm = () => {
      const cancel = this.#o.clock.schedule(ms, () => {
        this.#timers = this.#timers.filter((c) => c !== cancel);
        if (!this.reconciling) return;
        fn();
        arm();
      });
      this.#timers.push(cancel);
    };
    arm();
  }

  /**
   * Enqueues the objects that own managed rows in the store but no longer
   * exist in the cluster (deleted while no operator watched, a finalizer
   * stripped by hand): their reconcile removes the rows, or leaves them
   * unmanaged under deletionPolicy Orphan, audited. Runs on becoming leader and
   * on each resync, only once the caches have synced (an empty cache is not
   * "everything was deleted"). Returns how many it enqueued.
   */
  async sweepGone(): Promise<number> {
    const managedSources = this.#o.engine.managedSources;
    if (managedSources === undefined || !this.reconciling || !this.cache.hasSynced) return 0;
    let sources: ObjectRef[];
    try {
      sources = await managedSources.call(this.#o.engine);
    } catch (err) {
      this.#o.log.warn({ err: errorMessage(err) }, 'could not list the store\'s managed rows; deleted objects are looked for again at the next resync');
      return 0;
    }
    const watched = this.#o.namespaces;
    const gone = sources.filter(
      (ref) =>
        (watched === undefined || watched.length === 0 || watched.includes(ref.namespace)) &&
        (KIND_NAMES as readonly string[]).includes(ref.kind) &&
        this.cache.get(ref.kind, ref.namespace, ref.name) === undefined,
    );
    if (gone.length > 0) {
      this.#o.log.info({ objects: gone.length }, 'objects deleted without cleanup own rows in the store: removing them');
      this.enqueue(gone);
    }
    return gone.length;
  }

  #enqueueAll(): void {
    for (const kind of KIND_NAMES) {
      for (const object of this.cache.informers[kind].list()) this.#queue?.add(refKey(refOf(object)));
    }
  }

  async #process(queue: WorkQueue, keys: string[]): Promise<void> {
    const refs = keys.map(parseKey);
    const started = performance.now();
    let results: Map<string, Result>;
    try {
      results = await this.#reconciler.reconcileBatch(refs);
    } catch (err) {
      results = new Map(keys.map((key) => [key, { type: 'error', err } as Result]));
    }
    const seconds = (performance.now() - started) / 1000;
    const now = this.#o.clock.now().getTime();
    for (const [i, key] of keys.entries()) {
      const ref = refs[i] as ObjectRef;
      const result: Result = results.get(key) ?? { type: 'done' };
      const due = this.#expiryDue.get(key);
      if (due !== undefined && now >= due) {
        this.#expiryDue.delete(key);
        this.#o.metrics?.expiryLateness.observe(Math.max(0, now - due) / 1000);
      }
      this.#o.metrics?.reconcileDuration.observe({ kind: ref.kind }, seconds);
      this.#handleResult(queue, key, ref, result);
    }
  }

  #handleResult(queue: WorkQueue, key: string, ref: ObjectRef, result: Result): void {
    switch (result.type) {
      case 'done':
      case 'terminal':
        queue.forget(key);
        this.#o.metrics?.reconcileTotal.inc({ kind: ref.kind, result: result.type });
        break;
      case 'requeueAfter':
        queue.forget(key);
        if (result.expiryAt !== undefined) {
          const at = result.expiryAt.getTime();
          const previous = this.#expiryDue.get(key);
          if (previous === undefined || at < previous) this.#expiryDue.set(key, at);
        }
        queue.addAfter(key, result.ms);
        this.#o.metrics?.reconcileTotal.inc({ kind: ref.kind, result: 'requeue' });
        break;
      case 'error': {
        const delay = queue.addRateLimited(key);
        this.#o.metrics?.reconcileTotal.inc({ kind: ref.kind, result: 'error' });
        this.#o.log.warn({ kind: ref.kind, namespace: ref.namespace, name: ref.name, err: errorMessage(result.err), retryInMs: delay }, 'reconcile failed; retrying');
        break;
      }
    }
  }

  #onChange(kind: Kind, event: InformerEvent<CachedObject>): void {
    const queue = this.#queue;
    if (queue === undefined || !needsReconcile(event)) return;
    const refs: ObjectRef[] = [refOf(event.object)];
    const olds = event.type === 'update' ? [event.old, event.object] : [event.object];
    for (const object of olds) refs.push(...this.#related(kind, object));
    // One add per key: a worker waiting takes a key at once, and a second add would run it again.
    const keys = [...new Set(refs.map(refKey))];
    this.#o.log.debug({ kind, event: event.type, name: event.object.metadata.name, keys }, 'enqueue on change');
    for (const key of keys) queue.add(key);
  }

  #related(kind: Kind, object: CachedObject): ObjectRef[] {
    const namespace = object.metadata.namespace ?? 'default';
    const workspace = ClusterCache.workspaceOf(object);
    if (workspace === undefined) return [];
    const related: CachedObject[] = [];
    const workspaceRef: ObjectRef = { kind: 'Workspace', namespace, name: workspace };
    switch (kind) {
      case 'Workspace': {
        related.push(...this.cache.inWorkspace(namespace, workspace));
        const id = (object.spec as { workspaceId?: unknown }).workspaceId;
        if (typeof id === 'string') related.push(...this.cache.workspacesWithId(id));
        return related.map(refOf);
      }
      case 'Role':
        related.push(...this.cache.membersWithRole(namespace, workspace, object.metadata.name));
        return [workspaceRef, ...related.map(refOf)];
      case 'SupportGrant':
        return [workspaceRef];
      case 'Member': {
        const spec = object.spec as { email?: unknown; role?: unknown };
        const refs: ObjectRef[] = [workspaceRef];
        if (typeof spec.email === 'string') related.push(...this.cache.membersWithEmail(namespace, workspace, spec.email));
        if (typeof spec.role === 'string') {
          if (this.cache.get('Role', namespace, spec.role) !== undefined) refs.push({ kind: 'Role', namespace, name: spec.role });
          if (this.#isAdminRole(namespace, workspace, spec.role)) {
            for (const sibling of this.cache.listInWorkspace('Member', namespace, workspace) as unknown as CachedObject[]) {
              const role = (sibling.spec as { role?: unknown }).role;
              if (typeof role === 'string' && this.#isAdminRole(namespace, workspace, role)) related.push(sibling);
            }
          }
        }
        return [...refs, ...related.map(refOf)];
      }
    }
  }

  #isAdminRole(namespace: string, workspace: string, role: string): boolean {
    const builtin = this.#o.profile.defaultRoles.get(role);
    if (builtin !== undefined) return grantsAdmin(this.#o.profile, builtin.permissions);
    const custom = this.cache.get('Role', namespace, role) as GatehouseObject | undefined;
    if (custom?.kind !== 'Role') return false;
    if (custom.spec.workspaceRef.name !== workspace) return false;
    return grantsAdmin(this.#o.profile, custom.spec.permissions ?? []);
  }
}

/** Whether the store moved a Member in a way only the application does (acceptance, login). */
function appChanged(status: Status | undefined, state: ObjectState): boolean {
  const invitation = status?.invitation as { state?: string; respondedAt?: string } | undefined;
  return (
    status?.phase !== phaseFor('Member', state.phase, state.ready) ||
    invitation?.state !== state.invitation?.state ||
    invitation?.respondedAt !== state.invitation?.respondedAt ||
    status?.lastLoginAt !== state.lastLoginAt
  );
}
