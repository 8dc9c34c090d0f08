import { describe, expect, it } from 'vitest';
import { ManualClock } from '../util/clock.js';
import { ExponentialBackoff, TokenBucket, WorkQueue, runWorkers } from './workqueue.js';

function newQueue(clock = new ManualClock(), options: Partial<ConstructorParameters<typeof WorkQueue>[0]> = {}) {
  return { clock, queue: new WorkQueue({ clock, ...options }) };
}

/** Takes every key that is ready now, without waiting. */
async function drainReady(queue: WorkQueue): Promise<string[]> {
  const keys: string[] = [];
  while (queue.length > 0) {
    const key = await queue.get();
    if (key === undefined) break;
    keys.push(key);
    queue.done(key);
  }
  return keys;
}

describe('WorkQueue', () => {
  it('merges duplicate keys and keeps first-in order', async () => {
    const { queue } = newQueue();
    for (const key of ['a', 'b', 'a', 'c', 'b']) queue.add(key);
    expect(queue.length).toBe(3);
    expect(await drainReady(queue)).toEqual(['a', 'b', 'c']);
  });

  it('never hands one key to two workers; a key added while processing runs again after done', async () => {
    const { queue } = newQueue();
    queue.add('a');
    const first = await queue.get();
    queue.add('a');
    expect(queue.length).toBe(0);
    queue.add('b');
    expect(await queue.get()).toBe('b');
    queue.done('b');
    queue.done(first as string);
    expect(queue.length).toBe(1);
    expect(await queue.get()).toBe('a');
  });

  it('wakes a waiting worker when a key arrives', async () => {
    const { queue } = newQueue();
    const pending = queue.get();
    queue.add('x');
    expect(await pending).toBe('x');
  });

  it('adds after a delay at the exact instant on the clock', () => {
    const { clock, queue } = newQueue();
    queue.addAfter('a', 1000);
    clock.advance(999);
    expect(queue.length).toBe(0);
    clock.advance(1);
    expect(queue.length).toBe(1);
  });

  it('keeps the earlier of two delays for one key', () => {
    const { clock, queue } = newQueue();
    queue.addAfter('a', 5000);
    queue.addAfter('a', 1000);
    queue.addAfter('a', 3000);
    expect(queue.delayedCount).toBe(1);
    clock.advance(1000);
    expect(queue.length).toBe(1);
    clock.advance(10_000);
    expect(queue.length).toBe(1);
  });

  it.each([
    [0, 5],
    [1, 10],
    [2, 20],
    [10, 5120],
    [40, 1000],
  ])('backs off exponentially: after %i failures the delay is %i ms (max 1000 here)', (failures, expected) => {
    const backoff = new ExponentialBackoff({ baseMs: 5, maxMs: 1000 });
    for (let i = 0; i < failures; i += 1) backoff.next('k');
    expect(backoff.next('k')).toBe(Math.min(expected, 1000));
  });

  it('resets a key\'s backoff on forget and keeps keys apart', () => {
    const { clock, queue } = newQueue(new ManualClock(), { backoff: { baseMs: 10, maxMs: 10_000 } });
    expect(queue.addRateLimited('a')).toBe(10);
    expect(queue.addRateLimited('a')).toBe(20);
    expect(queue.addRateLimited('b')).toBe(10);
    expect(queue.numRequeues('a')).toBe(2);
    queue.forget('a');
    expect(queue.numRequeues('a')).toBe(0);
    expect(queue.addRateLimited('a')).toBe(10);
    clock.advance(10);
    expect(queue.length).toBe(2);
  });

  it('limits retries overall with a token bucket', () => {
    const clock = new ManualClock();
    const bucket = new TokenBucket({ perSecond: 10, burst: 2 }, clock);
    expect([bucket.reserve(), bucket.reserve(), bucket.reserve(), bucket.reserve()]).toEqual([0, 0, 100, 200]);
    clock.advance(1000);
    expect(bucket.reserve()).toBe(0);
  });

  it('applies the bucket to rate-limited adds across keys', () => {
    const { queue } = newQueue(new ManualClock(), { backoff: { baseMs: 1, maxMs: 1 }, rateLimit: { perSecond: 1, burst: 1 } });
    expect(queue.addRateLimited('a')).toBe(1);
    expect(queue.addRateLimited('b')).toBe(1000);
  });

  it('shutdown without dropping hands out what is queued, then resolves when idle', async () => {
    const { clock, queue } = newQueue();
    queue.add('a');
    queue.add('b');
    queue.addAfter('later', 10);
    const key = await queue.get();
    let stopped = false;
    const stopping = queue.shutdown().then(() => {
      stopped = true;
    });
    queue.add('c');
    clock.advance(100);
    expect(queue.length).toBe(1);
    expect(await queue.get()).toBe('b');
    queue.done('b');
    await Promise.resolve();
    expect(stopped).toBe(false);
    queue.done(key as string);
    await stopping;
    expect(await queue.get()).toBeUndefined();
  });

  it('shutdown with dropQueued drops waiting keys, including ones re-added while processing', async () => {
    const { queue } = newQueue();
    queue.add('a');
    queue.add('b');
    const key = await queue.get();
    queue.add('a');
    const stopping = queue.shutdown({ dropQueued: true });
    queue.done(key as string);
    await stopping;
    expect(queue.length).toBe(0);
    expect(await queue.get()).toBeUndefined();
  });
});

describe('WorkQueue delays: one timer over a heap of due times', () => {
  /** `ready`: the keys that became ready during that advance, in order. */
  type Step = { addAfter: [string, number] } | { add: string } | { advance: number; ready: string[] };
  const cases: Array<{ name: string; steps: Step[] }> = [
    {
      name: 'keys become ready in due order, ties in the order they were added',
      steps: [
        { addAfter: ['c', 300] },
        { addAfter: ['a', 100] },
        { addAfter: ['b', 300] },
        { addAfter: ['d', 200] },
        { advance: 99, ready: [] },
        { advance: 1, ready: ['a'] },
        { advance: 200, ready: ['d', 'c', 'b'] },
      ],
    },
    {
      name: 'an earlier delay for a key supersedes a later one; a later one is ignored',
      steps: [
        { addAfter: ['a', 500] },
        { addAfter: ['b', 400] },
        { addAfter: ['a', 100] },
        { addAfter: ['b', 900] },
        { advance: 100, ready: ['a'] },
        { advance: 300, ready: ['b'] },
        { advance: 1000, ready: [] },
      ],
    },
    {
      name: 'a key added before its delay ends is merged with it (one entry)',
      steps: [
        { addAfter: ['a', 100] },
        { add: 'a' },
        { advance: 100, ready: ['a'] },
      ],
    },
    {
      name: 'a delay added while the timer waits for a later key is not late',
      steps: [
        { addAfter: ['late', 10_000] },
        { advance: 5000, ready: [] },
        { addAfter: ['soon', 10] },
        { advance: 10, ready: ['soon'] },
        { advance: 4990, ready: ['late'] },
      ],
    },
    {
      name: 'a zero delay is an add',
      steps: [{ addAfter: ['now', 0] }, { advance: 0, ready: ['now'] }],
    },
  ];
  it.each(cases)('$name', async ({ steps }) => {
    const { clock, queue } = newQueue();
    for (const step of steps) {
      if ('addAfter' in step) queue.addAfter(...step.addAfter);
      else if ('add' in step) queue.add(step.add);
      else {
        clock.advance(step.advance);
        expect(await drainReady(queue)).toEqual(step.ready);
      }
      // However many keys wait, the clock holds at most one timer.
      expect(clock.pendingTimers).toBeLessThanOrEqual(1);
    }
  });

  it('holds one timer for 10,000 delayed keys and hands each out once, at its time', () => {
    const { clock, queue } = newQueue();
    for (let i = 0; i < 10_000; i += 1) queue.addAfter(`k${i}`, 1 + (i % 100) * 10);
    for (let i = 0; i < 10_000; i += 3) queue.addAfter(`k${i}`, 5);
    expect(queue.delayedCount).toBe(10_000);
    expect(clock.pendingTimers).toBe(1);
    clock.advance(5);
    expect(queue.length).toBe(3334 + 100 - 34);
    clock.advance(1000);
    expect(queue.length).toBe(10_000);
    expect(queue.delayedCount).toBe(0);
    expect(clock.pendingTimers).toBe(0);
  });

  it('shutdown cancels the timer and drops the delayed keys', async () => {
    const { clock, queue } = newQueue();
    queue.addAfter('a', 100);
    await queue.shutdown();
    expect(clock.pendingTimers).toBe(0);
    expect(queue.delayedCount).toBe(0);
    clock.advance(100);
    expect(queue.length).toBe(0);
  });
});

describe('runWorkers', () => {
  it('processes keys with N workers, one key never twice at once, and stops on shutdown', async () => {
    const { queue } = newQueue();
    const inFlight = new Set<string>();
    let maxParallel = 0;
    let overlaps = 0;
    const seen: string[] = [];
    const processed = runWorkers(queue, 3, async (key) => {
      if (inFlight.has(key)) overlaps += 1;
      inFlight.add(key);
      maxParallel = Math.max(maxParallel, inFlight.size);
      await new Promise((resolve) => setImmediate(resolve));
      if (key === 'k1' && seen.filter((k) => k === 'k1').length === 0) queue.add('k1');
      seen.push(key);
      inFlight.delete(key);
    });
    for (let i = 0; i < 6; i += 1) queue.add(`k${i}`);
    while (seen.length < 7) await new Promise((resolve) => setImmediate(resolve));
    await queue.shutdown();
    await processed;
    expect(overlaps).toBe(0);
    expect(maxParallel).toBe(3);
    expect(seen.filter((k) => k === 'k1')).toHaveLength(2);
  });

  it('calls done even when processing throws', async () => {
    const { queue } = newQueue();
    const processed = runWorkers(queue, 1, async (key) => {
      if (key === 'bad') throw new Error('boom');
    });
    queue.add('bad');
    await expect(processed).rejects.toThrow('boom');
    expect(queue.processingCount).toBe(0);
  });
});
