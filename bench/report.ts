// Shared measuring helpers for the benchmarks.
import { performance } from 'node:perf_hooks';

export async function timeIt<T>(fn: () => Promise<T> | T): Promise<{ ms: number; value: T }> {
  const start = performance.now();
  const value = await fn();
  return { ms: performance.now() - start, value };
}

export function percentile(samples: number[], p: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const index = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, index)] as number;
}

/** Peak resident set size of this process so far, in MiB. */
export function peakRssMiB(): number {
  return process.resourceUsage().maxRSS / 1024;
}

/** The `top` largest entries of `totals` as lines "  12.3%  key", each as a share of `whole`. */
export function shareRows(totals: ReadonlyMap<string, number>, whole: number, top: number): string[] {
  return [...totals]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([key, amount]) => `  ${((100 * amount) / Math.max(1, whole)).toFixed(1).padStart(5)}%  ${key}`);
}

export function report(rows: Array<[string, string | number]>): void {
  const width = Math.max(...rows.map(([k]) => k.length));
  for (const [key, value] of rows) {
    process.stdout.write(`${key.padEnd(width)}  ${typeof value === 'number' ? value.toFixed(2) : value}\n`);
  }
}
