import { describe, expect, it } from 'vitest';
import { ManualClock } from './clock.js';

describe('ManualClock', () => {
  it('runs timers in due order as time passes them, with now() at their due time', () => {
    const clock = new ManualClock('2026-01-01T00:00:00Z');
    const seen: string[] = [];
    clock.schedule(2000, () => seen.push(`b@${clock.now().toISOString()}`));
    clock.schedule(1000, () => seen.push(`a@${clock.now().toISOString()}`));
    clock.advance(999);
    expect(seen).toEqual([]);
    clock.advance(1500);
    expect(seen).toEqual(['a@2026-01-01T00:00:01.000Z', 'b@2026-01-01T00:00:02.000Z']);
    expect(clock.now().toISOString()).toBe('2026-01-01T00:00:02.499Z');
  });

  it('runs timers scheduled by timers when they fall inside the same advance', () => {
    const clock = new ManualClock();
    const seen: number[] = [];
    clock.schedule(10, () => {
      seen.push(1);
      clock.schedule(10, () => seen.push(2));
    });
    clock.advance(25);
    expect(seen).toEqual([1, 2]);
  });

  it('cancels timers and refuses to go backwards', () => {
    const clock = new ManualClock('2026-01-01T00:00:00Z');
    let fired = false;
    const cancel = clock.schedule(10, () => {
      fired = true;
    });
    cancel();
    clock.advance(20);
    expect(fired).toBe(false);
    expect(clock.pendingTimers).toBe(0);
    expect(() => clock.set('2025-12-31T00:00:00Z')).toThrow(/cannot move backwards/);
  });
});
