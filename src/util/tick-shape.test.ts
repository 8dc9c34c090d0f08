import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

// In a child process with V8's test hooks: bursts of nextTick with a full garbage collection
// between them (what a server's start-up does), then the inline caches of nextTick's queue-entry
// literal, as V8 prints them. Without the kept entry they go megamorphic (the slow path); that
// case is the control that shows the check can fail, and tells when a Node upgrade no longer
// needs keepTickObjectShape. The module is loaded with Node's own type stripping: a loader's
// start-up work (tsx) would run nextTick itself and blur what is measured.
function literalCacheStates(keep: boolean): string[] {
  const script = `
    ${keep ? `const { keepTickObjectShape } = await import(${JSON.stringify(new URL('./tick-shape.ts', import.meta.url).href)}); keepTickObjectShape();` : ''}
    for (let round = 0; round < 8; round++) {
      for (let i = 0; i < 3; i++) process.nextTick(() => {});
      await new Promise((resolve) => setImmediate(resolve));
      globalThis.gc();
    }
    new Function('f', '%DebugPrint(f)')(process.nextTick);
  `;
  const run = spawnSync(process.execPath, ['--allow-natives-syntax', '--expose-gc', '--input-type=module', '-e', script], { encoding: 'utf8' });
  expect(run.status, run.stderr).toBe(0);
  const states = [...run.stdout.matchAll(/DefineKeyedOwnPropertyInLiteral (\w+)/g)].map((m) => m[1] as string);
  // The literal defines five keys (three symbols, callback, args): one cache each. Anything else
  // means V8 prints its feedback differently now: the print is in the failure.
  expect(states, run.stdout).toHaveLength(5);
  return states;
}

describe('keepTickObjectShape', () => {
  it.each([
    { keep: true, megamorphic: false },
    { keep: false, megamorphic: true },
  ])('keep=$keep: the queue-entry literal goes megamorphic: $megamorphic', ({ keep, megamorphic }) => {
    const states = literalCacheStates(keep);
    expect(states.includes('MEGAMORPHIC')).toBe(megamorphic);
    if (!megamorphic) expect(new Set(states)).toEqual(new Set(['MONOMORPHIC']));
  });
});
