// The operator bench explains its memory with a heap snapshot summary; the
// summary must find what a process really holds.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeHeapSnapshot } from 'node:v8';
import { expect, it } from 'vitest';
import { formatHeapSummary, summarizeHeapSnapshot } from '../bench/heap-snapshot-summary.js';

class HeldForTheSummaryTest {
  constructor(
    readonly n: number,
    readonly label: string,
  ) {}
}

it('counts the live objects of a real heap snapshot by constructor, largest first', () => {
  // The label is made at run time, so each object holds its own copy of the same text.
  const held = Array.from({ length: 20_000 }, (_, i) => new HeldForTheSummaryTest(i, ['held', 'for', 'the', 'summary', String(i % 2)].join('-')));
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-heap-'));
  try {
    const file = writeHeapSnapshot(join(dir, 'test.heapsnapshot'));
    const summary = summarizeHeapSnapshot(JSON.parse(readFileSync(file, 'utf8')));
    const mine = summary.byKind.find((k) => k.kind === 'HeldForTheSummaryTest');
    expect(mine?.count).toBeGreaterThanOrEqual(held.length);
    expect(summary.byKind.map((k) => k.bytes)).toEqual([...summary.byKind.map((k) => k.bytes)].sort((a, b) => b - a));
    expect(summary.totalBytes).toBe(summary.byKind.reduce((n, k) => n + k.bytes, 0));
    const copies = summary.repeatedStrings.find((r) => r.text === 'held-for-the-summary-0');
    expect(copies?.count).toBeGreaterThanOrEqual(held.length / 2);
    expect(formatHeapSummary(summary, 5, 2).split('\n')).toHaveLength(9);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
