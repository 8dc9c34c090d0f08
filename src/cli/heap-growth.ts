// How far V8 lets the JavaScript heap grow above what is live before its next
// full collection. Left to itself, V8 lets a process that allocates fast grow
// its heap to several times its live data before collecting, and the pages stay
// resident: the operator's cold start (paged lists, watch events, a reconcile
// per object) peaked at 518 MiB resident for 95 MiB live with 10,000 Members.
// A fixed growth keeps the peak near the live data, for some more CPU spent in
// collections while the operator starts (docs/operator.md, Sizing).
import { setFlagsFromString } from 'node:v8';
import { UsageError } from '../util/errors.js';

export const DEFAULT_HEAP_GROWTH_PERCENT = 25;
const MAX_HEAP_GROWTH_PERCENT = 400;

/** The --heap-growth value as a whole number of per cent (0: V8's own heuristics). */
export function parseHeapGrowth(text: string): number {
  const percent = Number(text);
  if (text.trim() === '' || !Number.isInteger(percent) || percent < 0 || percent > MAX_HEAP_GROWTH_PERCENT) {
    throw new UsageError(`--heap-growth must be a whole number of per cent from 0 to ${MAX_HEAP_GROWTH_PERCENT}, got "${text}"; 0 leaves the heap's growth to V8`);
  }
  return percent;
}

/**
 * Sets the growth for the rest of the process. V8 reads it each time it sets the heap's next
 * limit after a collection, so setting it at start-up acts as the command-line flag does.
 */
export function applyHeapGrowth(percent: number, setFlags: (flags: string) => void = setFlagsFromString): void {
  if (percent > 0) setFlags(`--heap-growing-percent=${percent}`);
}
