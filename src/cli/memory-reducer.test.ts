import { readFileSync } from 'node:fs';
import { describe, expect, inject, it, vi } from 'vitest';
import { watchdogCollection, WATCHDOG_DEADLINE_MS } from '../../test/support/memory-reducer-watch.js';
import { keepMemoryReducerPausesShort } from './memory-reducer.js';

describe('keepMemoryReducerPausesShort', () => {
  it('turns off the memory-footprint mode of the memory reducer, and nothing else', () => {
    const set: string[] = [];
    keepMemoryReducerPausesShort((f) => set.push(f));
    expect(set).toEqual(['--no-memory-reducer-favors-memory']);
  });

  // Two real node processes, started with the test run (test/support/memory-reducer-watch.ts), hold
  // a heap of about 60 MB and then allocate little; about 100 s after the last full collection the
  // memory reducer's watchdog runs one. V8 left to itself makes it a memory-reducing one (the whole
  // heap compacted, the long pause); with the flag set at run time it is an ordinary full collection.
  it(
    'makes the watchdog collection an ordinary full one in a real node process, where V8 alone compacts',
    async () => {
      const watch = inject('memoryReducerWatch');
      const both = await vi.waitFor(
        () => {
          // Both files exist from the start (the global setup made them before it started the processes).
          const logs = { alone: readFileSync(watch.aloneLog, 'utf8'), kept: readFileSync(watch.keptLog, 'utf8') };
          const alone = watchdogCollection(logs.alone);
          const kept = watchdogCollection(logs.kept);
          if (alone === undefined || kept === undefined) {
            throw new Error(`no watchdog collection ${Math.round((Date.now() - watch.startedAt) / 1000)} s after the processes started; their --trace-gc output ends:\nwithout the flag:\n${logs.alone.slice(-1000)}\nwith the flag:\n${logs.kept.slice(-1000)}`);
          }
          return { alone, kept };
        },
        { timeout: Math.max(1_000, watch.startedAt + WATCHDOG_DEADLINE_MS - Date.now()), interval: 1_000 },
      );
      expect(both.alone.kind, JSON.stringify(both)).toBe('Mark-Compact (reduce)');
      expect(both.kept.kind, JSON.stringify(both)).toBe('Mark-Compact');
      expect(both.kept.pauseMs, JSON.stringify(both)).toBeLessThan(both.alone.pauseMs);
    },
    WATCHDOG_DEADLINE_MS + 30_000,
  );
});
