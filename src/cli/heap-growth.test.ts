import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { UsageError } from '../util/errors.js';
import { applyHeapGrowth, parseHeapGrowth } from './heap-growth.js';

describe('parseHeapGrowth', () => {
  it.each([
    ['25', 25],
    ['0', 0],
    ['400', 400],
  ])('reads %j as %d per cent', (text, percent) => {
    expect(parseHeapGrowth(text)).toBe(percent);
  });

  it.each(['', ' ', '-1', '401', '2.5', '25%', 'lots'])('refuses %j, saying what it takes', (text) => {
    expect(() => parseHeapGrowth(text)).toThrow(UsageError);
    expect(() => parseHeapGrowth(text)).toThrow(/--heap-growth must be a whole number of per cent from 0 to 400/);
  });
});

describe('applyHeapGrowth', () => {
  it.each([
    [25, ['--heap-growing-percent=25']],
    [0, []],
  ])('with %d sets V8 flags %j', (percent, flags) => {
    const set: string[] = [];
    applyHeapGrowth(percent, (f) => set.push(f));
    expect(set).toEqual(flags);
  });

  // A process that keeps about 40 MiB live while allocating fast, as a cold start does: V8 left to
  // itself lets its heap grow far past that; with the growth set, the peak stays much nearer.
  it('keeps a fast-allocating process much nearer its live data, in a real node process', () => {
    const module = fileURLToPath(new URL('./heap-growth.ts', import.meta.url));
    const peakMiB = (percent: number) => {
      const script = `
        import { applyHeapGrowth } from ${JSON.stringify(module)};
        applyHeapGrowth(${percent});
        const live = [];
        let peak = 0;
        for (let i = 0; i < 300; i++) {
          live.push(Array.from({ length: 20000 }, (_, j) => ({ j, s: 'x' + j })));
          if (live.length > 40) live.shift();
          for (let k = 0; k < 20; k++) Array.from({ length: 20000 }, (_, j) => ({ j }));
          peak = Math.max(peak, process.memoryUsage().heapTotal);
        }
        process.stdout.write(String(peak / 1048576));`;
      const run = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8' });
      expect(run.status, run.stderr).toBe(0);
      return Number(run.stdout);
    };
    const left = peakMiB(0);
    const bounded = peakMiB(10);
    expect(bounded).toBeLessThan(left * 0.85);
  }, 60_000);
});
