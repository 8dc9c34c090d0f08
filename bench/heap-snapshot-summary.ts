// Summarises a V8 heap snapshot (.heapsnapshot, as written by
// --heapsnapshot-signal or v8.writeHeapSnapshot): the live heap's total, and
// the self size by what the objects are (constructor names for objects, the
// node type for strings, code and arrays), largest first. Retained sizes need
// the dominator tree, which Chrome DevTools computes; self sizes are enough to
// see where the bytes sit.
//
//   npx tsx bench/heap-snapshot-summary.ts FILE.heapsnapshot [TOP]
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

interface HeapSnapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

export interface HeapSummary {
  totalBytes: number;
  objects: number;
  /** Self size by kind, largest first. */
  byKind: Array<{ kind: string; bytes: number; count: number }>;
}

export function summarizeHeapSnapshot(snapshot: HeapSnapshot): HeapSummary {
  const fields = snapshot.snapshot.meta.node_fields;
  const types = snapshot.snapshot.meta.node_types[0];
  const width = fields.length;
  const typeAt = fields.indexOf('type');
  const nameAt = fields.indexOf('name');
  const sizeAt = fields.indexOf('self_size');
  const kinds = new Map<string, { bytes: number; count: number }>();
  let totalBytes = 0;
  const { nodes, strings } = snapshot;
  for (let i = 0; i < nodes.length; i += width) {
    const type = types[nodes[i + typeAt] as number] as string;
    const size = nodes[i + sizeAt] as number;
    totalBytes += size;
    // Objects by constructor; everything else (strings, arrays, code, closures) by its type.
    const kind = type === 'object' || type === 'native' ? `${strings[nodes[i + nameAt] as number]}` : `(${type})`;
    const entry = kinds.get(kind) ?? { bytes: 0, count: 0 };
    entry.bytes += size;
    entry.count += 1;
    kinds.set(kind, entry);
  }
  const byKind = [...kinds].map(([kind, v]) => ({ kind, ...v })).sort((a, b) => b.bytes - a.bytes);
  return { totalBytes, objects: nodes.length / width, byKind };
}

export function formatHeapSummary(summary: HeapSummary, top = 25): string {
  const mib = (b: number) => (b / 1024 / 1024).toFixed(1).padStart(8);
  const lines = [`live heap ${mib(summary.totalBytes).trim()} MiB in ${summary.objects} objects; self size by kind:`];
  for (const k of summary.byKind.slice(0, top)) {
    lines.push(`${mib(k.bytes)} MiB  ${(100 * k.bytes / summary.totalBytes).toFixed(1).padStart(5)}%  ${String(k.count).padStart(9)}  ${k.kind.slice(0, 80)}`);
  }
  return lines.join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const [file, top] = process.argv.slice(2);
  if (file === undefined) throw new Error('usage: heap-snapshot-summary.ts FILE.heapsnapshot [TOP]');
  process.stdout.write(`${formatHeapSummary(summarizeHeapSnapshot(JSON.parse(readFileSync(file, 'utf8')) as HeapSnapshot), Number(top ?? 25))}\n`);
}
