import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { keepMemoryReducerPausesShort } from './memory-reducer.js';

describe('keepMemoryReducerPausesShort', () => {
  it('turns off the memory-footprint mode of the memory reducer, and nothing else', () => {
    const set: string[] = [];
    keepMemoryReducerPausesShort((f) => set.push(f));
    expect(set).toEqual(['--no-memory-reducer-favors-memory']);
  });

  // A process holding a heap of about 60 MB and then allocating little, as the decision API does
  // between bursts: about 100 s after its last full collection the memory reducer's watchdog runs
  // one. V8 left to itself makes it a memory-reducing one (the whole heap compacted, the long
  // pause); with the flag set at run time it is an ordinary full collection. Both processes run at
  // once, so the test waits for the watchdog once.
  it(
    'makes the watchdog collection an ordinary full one in a real node process, where V8 alone compacts',
    async () => {
      const module = fileURLToPath(new URL('./memory-reducer.ts', import.meta.url));
      const watchdogCollection = (keep: boolean) =>
        new Promise<{ kind: string; pauseMs: number; atMs: number }>((resolve, reject) => {
          const script = `
            import { keepMemoryReducerPausesShort } from ${JSON.stringify(module)};
            if (${keep}) keepMemoryReducerPausesShort();
            const live = [];
            for (let i = 0; i < 300000; i++) live.push({ id: 'member-' + i + '@example.com', n: i });
            let junk = [];
            for (let i = 0; i < 2e6; i++) { junk.push({ i }); if (junk.length > 1000) junk = []; }
            setInterval(() => { junk = [live.length]; }, 1000);`;
          const child = spawn(process.execPath, ['--trace-gc', '--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
          let text = '';
          let stderr = '';
          child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
          child.stdout.on('data', (chunk: Buffer) => {
            text += chunk.toString();
            // The first full collection long after start-up is the watchdog's (start-up's come in the first seconds).
            for (const m of text.matchAll(/\]\s+(\d+) ms: (Mark-Compact(?: \(reduce\))?) [^\n]*?MB, (?:pooled: \d+ MB, )?([\d.]+) \/ [\d.]+ ms[^\n]*\n/g)) {
              if (Number(m[1]) < 50_000) continue;
              child.kill();
              resolve({ kind: m[2] as string, pauseMs: Number(m[3]), atMs: Number(m[1]) });
              return;
            }
          });
          // V8's watchdog is due about 100 s after the last full collection; a process past 200 s is ended, not left behind.
          const deadline = setTimeout(() => {
            child.kill();
            reject(new Error(`no full collection after 200 s in a process ${keep ? 'with' : 'without'} the flag; its --trace-gc output:\n${text.slice(-2000)}`));
          }, 200_000);
          child.on('exit', (code, signal) => {
            clearTimeout(deadline);
            if (signal === null) reject(new Error(`the process ended (${code}) before the watchdog collection: ${stderr}`));
          });
        });
      const [alone, kept] = await Promise.all([watchdogCollection(false), watchdogCollection(true)]);
      expect(alone.kind, JSON.stringify(alone)).toBe('Mark-Compact (reduce)');
      expect(kept.kind, JSON.stringify(kept)).toBe('Mark-Compact');
      expect(kept.pauseMs, JSON.stringify({ alone, kept })).toBeLessThan(alone.pauseMs);
    },
    240_000,
  );
});
