// V8's memory reducer runs its watchdog collection about 100 s after a process's
// last full collection, and nothing in Node brings it sooner (the reducer's idle
// path waits for a low embedder allocation rate, which Node never reports). The
// test of src/cli/memory-reducer.ts needs one such collection in a process with
// the flag and one without, so both processes start with the test run (global
// setup), wait while the other suites run, and the test reads what they logged.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface MemoryReducerWatch {
  /** --trace-gc output of the process left to V8's defaults. */
  aloneLog: string;
  /** --trace-gc output of the process that called keepMemoryReducerPausesShort(). */
  keptLog: string;
  /** When both processes started (ms since the epoch). */
  startedAt: number;
}

export interface WatchdogCollection {
  kind: string;
  pauseMs: number;
  atMs: number;
}

/** The first full collection this long after start-up is the watchdog's (start-up's come in the first seconds). */
const AFTER_START_UP_MS = 50_000;
/** The watchdog is due about 100 s after the last full collection; a process that ran this long without one is ended. */
export const WATCHDOG_DEADLINE_MS = 200_000;

const FULL_COLLECTION = /\]\s+(\d+) ms: (Mark-Compact(?: \(reduce\))?) [^\n]*?MB, (?:pooled: \d+ MB, )?([\d.]+) \/ [\d.]+ ms[^\n]*\n/g;

/** The watchdog's collection in a --trace-gc log, or undefined while there is none yet. */
export function watchdogCollection(traceGc: string): WatchdogCollection | undefined {
  for (const m of traceGc.matchAll(FULL_COLLECTION)) {
    if (Number(m[1]) < AFTER_START_UP_MS) continue;
    return { kind: m[2] as string, pauseMs: Number(m[3]), atMs: Number(m[1]) };
  }
  return undefined;
}

// A process holding a heap of about 60 MB and then allocating little, as the decision API does
// between bursts.
function script(keep: boolean): string {
  const module = fileURLToPath(new URL('../../src/cli/memory-reducer.ts', import.meta.url));
  return `
    import { keepMemoryReducerPausesShort } from ${JSON.stringify(module)};
    if (${keep}) keepMemoryReducerPausesShort();
    const live = [];
    for (let i = 0; i < 300000; i++) live.push({ id: 'member-' + i + '@example.com', n: i });
    let junk = [];
    for (let i = 0; i < 2e6; i++) { junk.push({ i }); if (junk.length > 1000) junk = []; }
    setInterval(() => { junk = [live.length]; }, 1000);
    setTimeout(() => process.exit(0), ${WATCHDOG_DEADLINE_MS});`;
}

/** Starts both processes; the returned function ends them and removes their logs. */
export function startMemoryReducerWatch(): { watch: MemoryReducerWatch; stop(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-memory-reducer-'));
  const children: ChildProcess[] = [];
  const start = (keep: boolean, log: string) => {
    const out = openSync(log, 'w');
    const child = spawn(process.execPath, ['--trace-gc', '--import', 'tsx', '--input-type=module', '-e', script(keep)], { stdio: ['ignore', out, out] });
    closeSync(out);
    children.push(child);
  };
  const watch = { aloneLog: join(dir, 'alone.log'), keptLog: join(dir, 'kept.log'), startedAt: Date.now() };
  start(false, watch.aloneLog);
  start(true, watch.keptLog);
  return {
    watch,
    stop: () => {
      for (const child of children) child.kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
