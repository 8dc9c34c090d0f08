// A controller work queue in the manner of client-go's: keys, not events.
// - a key added while queued is merged (one entry);
// - a key is never handed to two workers at once: added while processing, it
//   is queued again when the worker calls done();
// - addAfter() waits on the injected Clock (a ManualClock in tests), and of two
//   delays for one key the earlier wins; delayed keys wait in a min-heap by due
//   time under one timer (at 100,000 objects, one timer per key was 100,000
//   timers and their closures);
// - addRateLimited() backs a key off exponentially (reset by forget()) and
//   through an overall token bucket, so a storm of failures cannot hammer the
//   API server or the store.
import type { Cancel, Clock } from '../util/clock.js';

export interface BackoffOptions {
  /** First retry delay. */
  baseMs: number;
  /** Longest retry delay. */
  maxMs: number;
}

export interface RateLimitOptions {
  /** Tokens added per second. */
  perSecond: number;
  /** Bucket size: how many retries may go at once. */
  burst: number;
}

export interface WorkQueueOptions {
  clock: Clock;
  backoff?: BackoffOptions;
  rateLimit?: RateLimitOptions;
}

export const DEFAULT_BACKOFF: BackoffOptions = { baseMs: 5, maxMs: 1_000_000 };
export const DEFAULT_RATE_LIMIT: RateLimitOptions = { perSecond: 10, burst: 100 };

/** Per-key exponential backoff: base * 2^failures, capped. */
export class ExponentialBackoff {
  readonly #failures = new Map<string, number>();

  constructor(readonly options: BackoffOptions = DEFAULT_BACKOFF) {}

  /** The delay before the next retry of `key`; counts one more failure. */
  next(key: string): number {
    const failures = this.#failures.get(key) ?? 0;
    this.#failures.set(key, failures + 1);
    const delay = this.options.baseMs * 2 ** failures;
    return Math.min(delay, this.options.maxMs);
  }

  failures(key: string): number {
    return this.#failures.get(key) ?? 0;
  }

  forget(key: string): void {
    this.#failures.delete(key);
  }
}

/** A token bucket over the Clock: reserve() says how long to wait for a token. */
export class TokenBucket {
  #tokens: number;
  #last: number;

  constructor(
    readonly options: RateLimitOptions,
    private readonly clock: Clock,
  ) {
    this.#tokens = options.burst;
    this.#last = clock.now().getTime();
  }

  /** Takes a token, possibly from the future; returns the wait in ms until it is valid. */
  reserve(): number {
    const now = this.clock.now().getTime();
    const refill = ((now - this.#last) / 1000) * this.options.perSecond;
    this.#tokens = Math.min(this.options.burst, this.#tokens + refill);
    this.#last = now;
    this.#tokens -= 1;
    if (this.#tokens >= 0) return 0;
    return Math.ceil((-this.#tokens / this.options.perSecond) * 1000);
  }
}

interface Delayed {
  key: string;
  due: number;
  /** Order of the addAfter calls, so keys due at the same instant keep it. */
  seq: number;
}

/**
 * Delayed keys by due time: a binary min-heap under one timer on the clock.
 * A key's later delay is ignored and an earlier one supersedes the pending
 * entry, which stays in the heap until popped and is then skipped.
 */
class DelayHeap {
  readonly #heap: Delayed[] = [];
  /** The due time that counts for each key. */
  readonly #due = new Map<string, number>();
  #seq = 0;
  #timer: { due: number; cancel: Cancel } | undefined;

  constructor(
    private readonly clock: Clock,
    private readonly ready: (key: string) => void,
  ) {}

  get size(): number {
    return this.#due.size;
  }

  add(key: string, ms: number): void {
    const due = this.clock.now().getTime() + ms;
    const pending = this.#due.get(key);
    if (pending !== undefined && pending <= due) return;
    this.#due.set(key, due);
    this.#push({ key, due, seq: this.#seq++ });
    // Superseded entries are skipped when popped; rebuild when they outnumber the live ones.
    if (this.#heap.length > 2 * this.#due.size + 64) this.#compact();
    this.#arm();
  }

  clear(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
    this.#heap.length = 0;
    this.#due.clear();
  }

  /** Sets the one timer for the earliest due key (re-armed only when that changes). */
  #arm(): void {
    const first = this.#heap[0];
    if (this.#timer !== undefined && first !== undefined && this.#timer.due <= first.due) return;
    this.#timer?.cancel();
    this.#timer = undefined;
    if (first === undefined) return;
    const due = first.due;
    const cancel = this.clock.schedule(due - this.clock.now().getTime(), () => {
      if (this.#timer?.cancel === cancel) this.#timer = undefined;
      this.#fire(due);
    });
    this.#timer = { due, cancel };
  }

  #fire(armedFor: number): void {
    // A timer may run a little before the clock reads its due time.
    const now = Math.max(this.clock.now().getTime(), armedFor);
    for (;;) {
      const first = this.#heap[0];
      if (first === undefined || first.due > now) break;
      this.#pop();
      if (this.#due.get(first.key) !== first.due) continue;
      this.#due.delete(first.key);
      this.ready(first.key);
    }
    this.#arm();
  }

  #compact(): void {
    const live = this.#heap.filter((d) => this.#due.get(d.key) === d.due);
    this.#heap.length = 0;
    for (const delayed of live) this.#push(delayed);
  }

  #push(item: Delayed): void {
    const heap = this.#heap;
    heap.push(item);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(heap[i] as Delayed, heap[parent] as Delayed)) break;
      [heap[i], heap[parent]] = [heap[parent] as Delayed, heap[i] as Delayed];
      i = parent;
    }
  }

  #pop(): void {
    const heap = this.#heap;
    const last = heap.pop();
    if (last === undefined || heap.length === 0) return;
    heap[0] = last;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let least = i;
      if (left < heap.length && before(heap[left] as Delayed, heap[least] as Delayed)) least = left;
      if (right < heap.length && before(heap[right] as Delayed, heap[least] as Delayed)) least = right;
      if (least === i) return;
      [heap[i], heap[least]] = [heap[least] as Delayed, heap[i] as Delayed];
      i = least;
    }
  }
}

function before(a: Delayed, b: Delayed): boolean {
  return a.due < b.due || (a.due === b.due && a.seq < b.seq);
}

export class WorkQueue {
  readonly #backoff: ExponentialBackoff;
  readonly #bucket: TokenBucket;
  readonly #queue: string[] = [];
  /** Keys waiting to be processed (queued, or re-added while processing). */
  readonly #dirty = new Set<string>();
  readonly #processing = new Set<string>();
  readonly #delayed: DelayHeap;
  #waiters: Array<(key: string | undefined) => void> = [];
  #idleWaiters: Array<() => void> = [];
  #shuttingDown = false;

  constructor(options: WorkQueueOptions) {
    this.#backoff = new ExponentialBackoff(options.backoff ?? DEFAULT_BACKOFF);
    this.#bucket = new TokenBucket(options.rateLimit ?? DEFAULT_RATE_LIMIT, options.clock);
    this.#delayed = new DelayHeap(options.clock, (key) => this.add(key));
  }

  /** Keys ready to be handed out (the queue depth). */
  get length(): number {
    return this.#queue.length;
  }

  /** Keys waiting on addAfter / addRateLimited. */
  get delayedCount(): number {
    return this.#delayed.size;
  }

  get processingCount(): number {
    return this.#processing.size;
  }

  get shuttingDown(): boolean {
    return this.#shuttingDown;
  }

  add(key: string): void {
    if (this.#shuttingDown || this.#dirty.has(key)) return;
    this.#dirty.add(key);
    if (this.#processing.has(key)) return;
    this.#push(key);
  }

  /** Adds `key` once `ms` have passed on the clock; an earlier pending delay for the key wins. */
  addAfter(key: string, ms: number): void {
    if (this.#shuttingDown) return;
    if (ms <= 0) {
      this.add(key);
      return;
    }
    this.#delayed.add(key, ms);
  }

  /** Re-adds a failed key after its backoff (and the overall rate limit). */
  addRateLimited(key: string): number {
    const delay = Math.max(this.#backoff.next(key), this.#bucket.reserve());
    this.addAfter(key, delay);
    return delay;
  }

  /** Resets a key's backoff after it succeeded. */
  forget(key: string): void {
    this.#backoff.forget(key);
  }

  numRequeues(key: string): number {
    return this.#backoff.failures(key);
  }

  /** The next key to process; undefined once the queue is shut down and empty. */
  get(): Promise<string | undefined> {
    const key = this.#take();
    if (key !== undefined || this.#shuttingDown) return Promise.resolve(key);
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /**
   * Up to `max` keys: waits for the first, then takes what else is ready now.
   * Empty once the queue is shut down and empty.
   */
  async getBatch(max: number): Promise<string[]> {
    const first = await this.get();
    if (first === undefined) return [];
    const keys = [first];
    while (keys.length < max) {
      const key = this.#take();
      if (key === undefined) break;
      keys.push(key);
    }
    return keys;
  }

  /** Marks a key processed; if it was added meanwhile it is queued again. */
  done(key: string): void {
    this.#processing.delete(key);
    if (this.#dirty.has(key)) this.#push(key);
    this.#notifyIdle();
  }

  /**
   * Stops the queue: no more adds, delayed keys are dropped. With `dropQueued`
   * the keys not yet handed out are dropped too (a leader that lost its lease
   * must stop at once); otherwise workers still get them. Resolves when no
   * key is being processed and none is left to hand out.
   */
  shutdown(options: { dropQueued?: boolean } = {}): Promise<void> {
    this.#shuttingDown = true;
    this.#delayed.clear();
    if (options.dropQueued) {
      this.#dirty.clear();
      this.#queue.length = 0;
    }
    const waiters = this.#waiters;
    this.#waiters = [];
    if (this.#queue.length === 0) for (const resolve of waiters) resolve(undefined);
    else this.#waiters = waiters;
    return new Promise((resolve) => {
      this.#idleWaiters.push(resolve);
      this.#notifyIdle();
    });
  }

  #push(key: string): void {
    const waiter = this.#waiters.shift();
    if (waiter !== undefined) {
      this.#dirty.delete(key);
      this.#processing.add(key);
      waiter(key);
      return;
    }
    this.#queue.push(key);
  }

  #take(): string | undefined {
    const key = this.#queue.shift();
    if (key === undefined) return undefined;
    this.#dirty.delete(key);
    this.#processing.add(key);
    if (this.#shuttingDown && this.#queue.length === 0) {
      const waiters = this.#waiters;
      this.#waiters = [];
      for (const resolve of waiters) resolve(undefined);
    }
    return key;
  }

  #notifyIdle(): void {
    if (!this.#shuttingDown || this.#processing.size > 0 || this.#queue.length > 0) return;
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const resolve of waiters) resolve();
  }
}

/**
 * Runs `count` workers over the queue until it shuts down, each taking up to
 * `maxBatch` ready keys at a time. done() is always called for every key.
 */
export function runBatchWorkers(queue: WorkQueue, count: number, maxBatch: number, process: (keys: string[]) => Promise<void>): Promise<void> {
  const worker = async () => {
    for (;;) {
      const keys = await queue.getBatch(maxBatch);
      if (keys.length === 0) return;
      try {
        await process(keys);
      } finally {
        for (const key of keys) queue.done(key);
      }
    }
  };
  return Promise.all(Array.from({ length: count }, worker)).then(() => undefined);
}

/**
 * Runs `count` workers over the queue until it shuts down. Each key is
 * processed by one worker at a time; done() is always called.
 */
export function runWorkers(queue: WorkQueue, count: number, process: (key: string) => Promise<void>): Promise<void> {
  const worker = async () => {
    for (;;) {
      const key = await queue.get();
      if (key === undefined) return;
      try {
        await process(key);
      } finally {
        queue.done(key);
      }
    }
  };
  return Promise.all(Array.from({ length: count }, worker)).then(() => undefined);
}
