// Brings a store's schema up to date in the background, retrying with backoff,
// so a long-running process (gatehouse run) starts while its database is down
// and becomes ready when it is back, instead of exiting at start.
import { errorMessage } from '../util/errors.js';
import { migrateStore, StoreError, type Store } from './store.js';

export interface StorePreparerOptions {
  /** First wait after a failure; doubled up to maxDelayMs. */
  minDelayMs?: number;
  maxDelayMs?: number;
  /** Told about each failed attempt (for a log line; the message never holds a password). */
  onError?: (message: string, attempt: number) => void;
  onReady?: () => void;
}

export class StorePreparer {
  readonly #store: Store;
  readonly #options: StorePreparerOptions;
  #ready = false;
  #lastError: string | undefined;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  #attempts = 0;
  #running: Promise<void> | undefined;

  constructor(store: Store, options: StorePreparerOptions = {}) {
    this.#store = store;
    this.#options = options;
  }

  /** Starts trying; returns at once. */
  start(): void {
    this.#running = this.#attempt();
  }

  get ready(): boolean {
    return this.#ready;
  }

  /** Throws while the schema is not known to be current (the store was never reached, or migrating failed). */
  check(): void {
    if (this.#ready) return;
    throw new StoreError(
      `identity store ${this.#store.location} is not ready${this.#lastError !== undefined ? `: ${this.#lastError}` : ': connecting'}; retrying with backoff`,
    );
  }

  async #attempt(): Promise<void> {
    if (this.#stopped) return;
    this.#attempts += 1;
    try {
      await migrateStore(this.#store);
      this.#ready = true;
      this.#lastError = undefined;
      this.#options.onReady?.();
    } catch (err) {
      this.#lastError = errorMessage(err);
      this.#options.onError?.(this.#lastError, this.#attempts);
      if (this.#stopped) return;
      const min = this.#options.minDelayMs ?? 500;
      const delay = Math.min(min * 2 ** Math.min(this.#attempts - 1, 16), this.#options.maxDelayMs ?? 30_000);
      this.#timer = setTimeout(() => {
        this.#running = this.#attempt();
      }, delay);
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    await this.#running?.catch(() => undefined);
  }
}
