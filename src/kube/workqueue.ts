// A controller work queue in the manner of client-go's: keys, not events.
// - a key added while queued is merged (one entry);
// - a key is never handed to two workers at once: added while processing, it
//   is queued again when the worker calls done();
// - addAfter() waits on the injected Clock (a ManualClock in tests), and of two
//   delays for one key the earlier wins;
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
  due: number;
  cancel: Cancel;
}

export class WorkQueue {
  readonly #clock: Clock;
  readonly #backoff: ExponentialBackoff;
  readonly #bucket: TokenBucket;
  readonly #queue: string[] = [];
  /** Keys waiting to be processed (queued, or re-added while processing). */
  readonly #dirty = new Set<string>();
  readonly #processing = new Set<string>();
  readonly #delayed = new Map<string, Delayed>();
  #waiters: Array<(key: string | undefined) => void> = [];
  #idleWaiters: Array<() => void> = [];
  #shuttingDown = false;

  constructor(options: WorkQueueOptions) {
    this.#clock = options.clock;
    this.#backoff = new ExponentialBackoff(options.backoff ?? DEFAULT_BACKOFF);
    this.#bucket = new TokenBucket(options.rateLimit ?? DEFAULT_RATE_LIMIT, options.clock);
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
    const due = this.#clock.now().getTime() + ms;
    const pending = this.#delayed.get(key);
    if (pending !== undefined) {
      if (pending.due <= due) return;
      pending.cancel();
    }
    const cancel = this.#clock.schedule(ms, () => {
      const current = this.#delayed.get(key);
      if (current?.cancel === cancel) this.#delayed.delete(key);
      this.add(key);
    });
    this.#delayed.set(key, { due, cancel });
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
    for (const delayed of this.#delayed.values()) delayed.cancel();
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
