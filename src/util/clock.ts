// Time is a dependency: components read it and schedule on it through a Clock,
// so tests move time instead of sleeping.

export type Cancel = () => void;

export interface Clock {
  now(): Date;
  /** Runs `fn` once `ms` milliseconds have passed on this clock. */
  schedule(ms: number, fn: () => void): Cancel;
}

export const systemClock: Clock = {
  now: () => new Date(),
  schedule(ms, fn) {
    // setTimeout caps at 2^31-1 ms (~24.8 days); longer waits re-arm.
    const MAX = 2_147_483_647;
    let timer: NodeJS.Timeout;
    const due = Date.now() + ms;
    const arm = () => {
      const left = due - Date.now();
      timer = setTimeout(left > MAX ? arm : fn, Math.min(Math.max(left, 0), MAX));
      timer.unref?.();
    };
    arm();
    return () => clearTimeout(timer);
  },
};

interface Timer {
  due: number;
  seq: number;
  fn: () => void;
}

/** A clock that moves only when told to; scheduled work runs as time passes it. */
export class ManualClock implements Clock {
  #now: number;
  #timers: Timer[] = [];
  #seq = 0;

  constructor(start: Date | string = '2026-01-01T00:00:00Z') {
    this.#now = new Date(start).getTime();
  }

  now(): Date {
    return new Date(this.#now);
  }

  schedule(ms: number, fn: () => void): Cancel {
    const timer: Timer = { due: this.#now + Math.max(ms, 0), seq: this.#seq++, fn };
    this.#timers.push(timer);
    return () => {
      this.#timers = this.#timers.filter((t) => t !== timer);
    };
  }

  /** Moves time forward, running every timer that falls due on the way, in order. */
  advance(ms: number): void {
    this.set(new Date(this.#now + ms));
  }

  /** Moves time to `instant` (never backwards), running due timers in order. */
  set(instant: Date | string): void {
    const target = new Date(instant).getTime();
    if (target < this.#now) throw new Error(`ManualClock cannot move backwards (from ${this.now().toISOString()} to ${new Date(target).toISOString()})`);
    for (;;) {
      const next = this.#timers
        .filter((t) => t.due <= target)
        .sort((a, b) => a.due - b.due || a.seq - b.seq)[0];
      if (next === undefined) break;
      this.#timers = this.#timers.filter((t) => t !== next);
      this.#now = Math.max(this.#now, next.due);
      next.fn();
    }
    this.#now = target;
  }

  /** Timers not yet due, for assertions. */
  get pendingTimers(): number {
    return this.#timers.length;
  }
}
