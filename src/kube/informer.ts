// An informer: a cache of one resource kept current by list + watch.
// One reflector per namespace (or one for all namespaces) lists, then watches
// from the list's resourceVersion. A 410 Gone (an ERROR event or the HTTP
// status) means the history it needs is gone: it relists and reconciles the
// cache with the new list (deletions included). Any other end of a watch
// reconnects from the last resourceVersion seen, after an exponential backoff
// on the informer's clock. Handlers see add, update (with the old object) and
// delete; indexers keep secondary lookups (objects by workspace, say).
import type { Logger } from '../util/log.js';
import { silentLogger } from '../util/log.js';
import { errorMessage } from '../util/errors.js';
import { systemClock, type Cancel, type Clock } from '../util/clock.js';
import { isGone, type KubeClient, type KubeObject, type ResourceDescriptor, type WatchEventType } from './client.js';
import { ExponentialBackoff, type BackoffOptions } from './workqueue.js';

export type InformerEvent<T> =
  | { type: 'add'; object: T }
  | { type: 'update'; object: T; old: T }
  | { type: 'delete'; object: T };

export type InformerHandler<T> = (event: InformerEvent<T>) => void;

/**
 * Told of every change to the informer's store, from lists, watches and
 * observed writes alike (`next` undefined: removed; `previous` undefined: new).
 */
export type StoreListener<T> = (next: T | undefined, previous: T | undefined) => void;

/** Values an object is filed under in a named index. */
export type IndexFunction<T> = (object: T) => readonly string[];

export interface InformerOptions<T extends KubeObject = KubeObject> {
  client: KubeClient;
  resource: ResourceDescriptor;
  /** Namespaces to watch; absent or empty: all namespaces. */
  namespaces?: readonly string[];
  /** Clock the reconnect backoff waits on. */
  clock?: Clock;
  /** Reconnect backoff after a failed list or watch. */
  backoff?: BackoffOptions;
  log?: Logger;
  /**
   * What the cache keeps of each object from a list, a watch or a write
   * (client-go's transform): it may change the freshly parsed object in place.
   */
  transform?: (object: T) => T;
  /** Items per list page (limit/continue): a list never holds more raw items than this at once. */
  pageSize?: number;
}

export const DEFAULT_LIST_PAGE_SIZE = 500;

export interface InformerStats {
  lists: number;
  watches: number;
  /** Relists forced by 410 Gone. */
  relists: number;
  /** Watches that ended with an error other than 410. */
  watchErrors: number;
}

export const DEFAULT_RECONNECT_BACKOFF: BackoffOptions = { baseMs: 200, maxMs: 30_000 };

function keyOf(namespace: string | undefined, name: string): string {
  return `${namespace ?? ''}/${name}`;
}

/** True when `candidate` is not older than `current` (resourceVersions compared as numbers when they are). */
function isNewer(candidate: KubeObject, current: KubeObject): boolean {
  const a = candidate.metadata.resourceVersion;
  const b = current.metadata.resourceVersion;
  if (a === undefined || b === undefined) return true;
  if (/^\d+$/.test(a) && /^\d+$/.test(b)) return BigInt(a) > BigInt(b);
  return a !== b;
}

export class Informer<T extends KubeObject> {
  readonly resource: ResourceDescriptor;
  readonly stats: InformerStats = { lists: 0, watches: 0, relists: 0, watchErrors: 0 };
  readonly #objects = new Map<string, T>();
  readonly #byNamespace = new Map<string, Map<string, T>>();
  readonly #indexers = new Map<string, { fn: IndexFunction<T>; values: Map<string, Map<string, T>> }>();
  readonly #handlers: InformerHandler<T>[] = [];
  readonly #storeListeners: StoreListener<T>[] = [];
  readonly #reflectors: Reflector<T>[];
  #started = false;

  constructor(readonly options: InformerOptions<T>) {
    this.resource = options.resource;
    const namespaces = options.namespaces !== undefined && options.namespaces.length > 0 ? [...new Set(options.namespaces)] : [undefined];
    this.#reflectors = namespaces.map((namespace) => new Reflector(this, namespace));
  }

  on(handler: InformerHandler<T>): void {
    this.#handlers.push(handler);
  }

  /**
   * Keeps a structure derived from the store in step (called synchronously,
   * before handlers); unlike handlers it also sees writes recorded by
   * observe(). Call before start().
   */
  onStore(listener: StoreListener<T>): void {
    this.#storeListeners.push(listener);
  }

  /** Adds a named index; call before start(). */
  addIndex(name: string, fn: IndexFunction<T>): void {
    const values = new Map<string, Map<string, T>>();
    for (const [key, object] of this.#objects) for (const value of fn(object)) addTo(values, value, key, object);
    this.#indexers.set(name, { fn, values });
  }

  start(): void {
    if (this.#started) return;
    this.#started = true;
    for (const reflector of this.#reflectors) reflector.start();
  }

  async stop(): Promise<void> {
    await Promise.all(this.#reflectors.map((r) => r.stop()));
  }

  /** True once every reflector has listed once. */
  get hasSynced(): boolean {
    return this.#reflectors.every((r) => r.synced);
  }

  /** Resolves when the cache has synced; rejects after `timeoutMs` (wall time). */
  waitForSync(timeoutMs = 60_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const started = Date.now();
      const check = () => {
        if (this.hasSynced) resolve();
        else if (Date.now() - started > timeoutMs) reject(new Error(`the ${this.resource.plural} cache did not sync within ${timeoutMs} ms: ${this.lastError ?? 'no error seen'}`));
        else setTimeout(check, 5).unref();
      };
      check();
    });
  }

  get lastError(): string | undefined {
    return this.#reflectors.map((r) => r.lastError).find((e) => e !== undefined);
  }

  get size(): number {
    return this.#objects.size;
  }

  get(namespace: string | undefined, name: string): T | undefined {
    return this.#objects.get(keyOf(namespace, name));
  }

  list(namespace?: string): T[] {
    if (namespace === undefined) return [...this.#objects.values()];
    return [...(this.#byNamespace.get(namespace)?.values() ?? [])];
  }

  byIndex(name: string, value: string): T[] {
    const index = this.#indexers.get(name);
    if (index === undefined) throw new Error(`the ${this.resource.plural} informer has no index "${name}"`);
    return [...(index.values.get(value)?.values() ?? [])];
  }

  /**
   * Records an object a write returned, so the next reconcile does not read a
   * stale copy before the watch delivers it. Handlers are not called: the
   * watch event for the same resourceVersion is then a no-op. Returns the
   * cache's copy (the transformed write, or a newer copy the cache holds).
   */
  observe(written: T): T {
    const object = this.prepare(written);
    const current = this.get(object.metadata.namespace, object.metadata.name);
    if (current === undefined || !isNewer(object, current)) return current ?? object;
    this.#store(object, current);
    return object;
  }

  // ---- called by reflectors ----

  /** The cache's copy of an object the API server sent. */
  prepare(object: T): T {
    const withKinds = withKind(object, this.resource.kind, this.resource);
    return this.options.transform ? this.options.transform(withKinds) : withKinds;
  }

  upsert(object: T): void {
    const current = this.get(object.metadata.namespace, object.metadata.name);
    if (current !== undefined && !isNewer(object, current)) return;
    this.#store(object, current);
    this.#emit(current === undefined ? { type: 'add', object } : { type: 'update', object, old: current });
  }

  remove(object: T): void {
    const current = this.get(object.metadata.namespace, object.metadata.name);
    if (current === undefined) return;
    this.#unstore(current);
    for (const listener of this.#storeListeners) listener(undefined, current);
    this.#emit({ type: 'delete', object });
  }

  /** Makes the cache for `namespace` (undefined: all) equal to a fresh list. */
  replace(namespace: string | undefined, items: T[]): void {
    const listed = new Set(items.map((o) => keyOf(o.metadata.namespace, o.metadata.name)));
    const existing = namespace === undefined ? [...this.#objects.values()] : this.list(namespace);
    for (const object of existing) {
      if (!listed.has(keyOf(object.metadata.namespace, object.metadata.name))) this.remove(object);
    }
    for (const object of items) this.upsert(object);
  }

  #store(object: T, previous: T | undefined): void {
    if (previous !== undefined) this.#unstore(previous);
    const key = keyOf(object.metadata.namespace, object.metadata.name);
    this.#objects.set(key, object);
    addTo(this.#byNamespace, object.metadata.namespace ?? '', key, object);
    for (const index of this.#indexers.values()) for (const value of index.fn(object)) addTo(index.values, value, key, object);
    for (const listener of this.#storeListeners) listener(object, previous);
  }

  #unstore(object: T): void {
    const key = keyOf(object.metadata.namespace, object.metadata.name);
    this.#objects.delete(key);
    removeFrom(this.#byNamespace, object.metadata.namespace ?? '', key);
    for (const index of this.#indexers.values()) for (const value of index.fn(object)) removeFrom(index.values, value, key);
  }

  #emit(event: InformerEvent<T>): void {
    for (const handler of this.#handlers) {
      try {
        handler(event);
      } catch (err) {
        (this.options.log ?? silentLogger()).error({ err: errorMessage(err), resource: this.resource.plural }, 'informer handler failed');
      }
    }
  }
}

function addTo<T>(map: Map<string, Map<string, T>>, value: string, key: string, object: T): void {
  let bucket = map.get(value);
  if (bucket === undefined) {
    bucket = new Map();
    map.set(value, bucket);
  }
  bucket.set(key, object);
}

function removeFrom<T>(map: Map<string, Map<string, T>>, value: string, key: string): void {
  const bucket = map.get(value);
  if (bucket === undefined) return;
  bucket.delete(key);
  if (bucket.size === 0) map.delete(value);
}

interface WatchOutcome {
  err: unknown;
  gone: boolean;
  events: number;
}

/** Lists and watches one namespace (or all) for an Informer. */
class Reflector<T extends KubeObject> {
  synced = false;
  lastError: string | undefined;
  #resourceVersion = '';
  #stopped = false;
  #running: Promise<void> | undefined;
  #abort: AbortController | undefined;
  #endWatch: (() => void) | undefined;
  #cancelSleep: { cancel: Cancel; wake: () => void } | undefined;
  readonly #backoff: ExponentialBackoff;
  readonly #clock: Clock;
  readonly #log: Logger;

  constructor(
    private readonly informer: Informer<T>,
    private readonly namespace: string | undefined,
  ) {
    this.#backoff = new ExponentialBackoff(informer.options.backoff ?? DEFAULT_RECONNECT_BACKOFF);
    this.#clock = informer.options.clock ?? systemClock;
    this.#log = informer.options.log ?? silentLogger();
  }

  start(): void {
    this.#running = this.#run();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#abort?.abort();
    this.#endWatch?.();
    if (this.#cancelSleep) {
      this.#cancelSleep.cancel();
      this.#cancelSleep.wake();
    }
    await this.#running;
  }

  get #what(): string {
    return `${this.informer.resource.plural}${this.namespace !== undefined ? ` in ${this.namespace}` : ''}`;
  }

  async #run(): Promise<void> {
    const { client, resource } = this.informer.options;
    while (!this.#stopped) {
      if (this.#resourceVersion === '') {
        try {
          this.informer.stats.lists += 1;
          // In pages, each made the cache's copy before the next is read, so
          // the whole list's raw JSON is never held at once. Later pages come
          // from the first page's snapshot; an expired token (410) fails the
          // list and it starts again.
          const items: T[] = [];
          let resourceVersion = '';
          let token: string | undefined;
          do {
            const page = await client.listPage<T>(resource, this.namespace, { limit: this.informer.options.pageSize ?? DEFAULT_LIST_PAGE_SIZE, ...(token ? { continue: token } : {}) });
            if (resourceVersion === '') resourceVersion = page.resourceVersion;
            for (const item of page.items) items.push(this.informer.prepare(item));
            token = page.continue;
          } while (token !== undefined && !this.#stopped);
          if (this.#stopped) break;
          this.informer.replace(this.namespace, items);
          this.#resourceVersion = resourceVersion;
          this.synced = true;
          this.lastError = undefined;
          this.#backoff.forget('list');
        } catch (err) {
          this.lastError = errorMessage(err);
          this.#log.warn({ resource: this.#what, err: this.lastError }, 'list failed; retrying');
          await this.#sleep(this.#backoff.next('list'));
          continue;
        }
      }
      const startedAt = Date.now();
      const outcome = await this.#watchOnce();
      if (this.#stopped) break;
      if (outcome.gone) {
        // The resourceVersion is too old for the server's history: start again from a list.
        this.informer.stats.relists += 1;
        this.#log.info({ resource: this.#what }, 'watch history expired (410 Gone); relisting');
        this.#resourceVersion = '';
        continue;
      }
      if (outcome.events > 0) this.#backoff.forget('watch');
      if (outcome.err !== null && !isTimeout(outcome.err)) {
        this.informer.stats.watchErrors += 1;
        this.lastError = errorMessage(outcome.err);
        const delay = this.#backoff.next('watch');
        this.#log.warn({ resource: this.#what, err: this.lastError, retryInMs: delay }, 'watch ended with an error; reconnecting');
        await this.#sleep(delay);
      } else if (outcome.events === 0 && Date.now() - startedAt < 1000) {
        // A server that closes watches at once must not make us spin.
        await this.#sleep(this.#backoff.next('watch'));
      }
    }
  }

  #watchOnce(): Promise<WatchOutcome> {
    const { client, resource } = this.informer.options;
    return new Promise((resolve) => {
      let settled = false;
      const outcome: WatchOutcome = { err: null, gone: false, events: 0 };
      const finish = (err: unknown) => {
        if (settled) return;
        settled = true;
        this.#abort = undefined;
        this.#endWatch = undefined;
        if (isGone(err)) outcome.gone = true;
        else if (outcome.err === null) outcome.err = err;
        resolve(outcome);
      };
      this.#endWatch = () => finish(null);
      const onEvent = (type: WatchEventType, raw: unknown) => {
        if (settled) return;
        const object = raw as T & { code?: number };
        switch (type) {
          case 'ADDED':
          case 'MODIFIED':
            outcome.events += 1;
            this.informer.upsert(this.informer.prepare(object));
            break;
          case 'DELETED':
            outcome.events += 1;
            this.informer.remove(this.informer.prepare(object));
            break;
          case 'BOOKMARK':
            break;
          case 'ERROR':
            if (object.code === 410) outcome.gone = true;
            else outcome.err = new Error(`watch of ${this.#what} failed: ${JSON.stringify(raw)}`);
            this.#abort?.abort();
            finish(null);
            return;
        }
        const rv = object.metadata?.resourceVersion;
        if (rv) this.#resourceVersion = rv;
      };
      this.informer.stats.watches += 1;
      client.watch(resource, this.namespace, this.#resourceVersion, onEvent, finish).then(
        (controller) => {
          if (settled || this.#stopped) controller.abort();
          else this.#abort = controller;
        },
        (err: unknown) => finish(err),
      );
    });
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const cancel = this.#clock.schedule(ms, () => {
        this.#cancelSleep = undefined;
        resolve();
      });
      this.#cancelSleep = { cancel, wake: resolve };
    });
  }
}

function isTimeout(err: unknown): boolean {
  return err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError');
}

/** List items of built-in kinds come without kind and apiVersion; the cache always has them. */
function withKind<T extends KubeObject>(object: T, kind: string, resource: ResourceDescriptor): T {
  if (object.kind !== undefined && object.apiVersion !== undefined) return object;
  return { ...object, kind, apiVersion: resource.group === '' ? resource.version : `${resource.group}/${resource.version}` };
}
