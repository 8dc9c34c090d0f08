// Summarises a V8 heap snapshot (.heapsnapshot, as written by
// --heapsnapshot-signal or v8.writeHeapSnapshot): the live heap's total, the
// self size by what the objects are (constructor names for objects, the node
// type for strings, code and arrays), largest first, and the most repeated
// strings with what their copies cost. Retained sizes need the dominator tree,
// which Chrome DevTools computes; self sizes are enough to see where the bytes
// sit. The operator bench prints it after convergence; by hand:
//
//   npx tsx bench/heap-snapshot-summary.ts FILE.heapsnapshot [TOP]
//
// (a snapshot of a few hundred MiB needs a few GiB: NODE_OPTIONS=--max-old-space-size=8192).
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

interface HeapSnapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

interface Tally {
  bytes: number;
  count: number;
}

export interface HeapSummary {
  totalBytes: number;
  objects: number;
  /** Self size by kind, largest first. */
  byKind: Array<{ kind: string } & Tally>;
  /** Strings held more than once, by the bytes of all their copies, largest first. */
  repeatedStrings: Array<{ text: string } & Tally>;
}

function add<K>(map: Map<K, Tally>, key: K, bytes: number): void {
  const tally = map.get(key);
  if (tally === undefined) map.set(key, { bytes, count: 1 });
  else {
    tally.bytes += bytes;
    tally.count += 1;
  }
}

export function summarizeHeapSnapshot(snapshot: HeapSnapshot): HeapSummary {
  const fields = snapshot.snapshot.meta.node_fields;
  const types = snapshot.snapshot.meta.node_types[0];
  const width = fields.length;
  const typeAt = fields.indexOf('type');
  const nameAt = fields.indexOf('name');
  const sizeAt = fields.indexOf('self_size');
  const kinds = new Map<string, Tally>();
  const strings = new Map<string, Tally>();
  let totalBytes = 0;
  const { nodes } = snapshot;
  for (let i = 0; i < nodes.length; i += width) {
    const type = types[nodes[i + typeAt] as number] as string;
    const name = snapshot.strings[nodes[i + nameAt] as number] as string;
    const size = nodes[i + sizeAt] as number;
    totalBytes += size;
    // Objects by constructor; everything else (strings, arrays, code, closures) by its type.
    add(kinds, type === 'object' || type === 'native' ? name : `(${type})`, size);
    if (type === 'string') add(strings, name.length > 80 ? `${name.slice(0, 77)}...` : name, size);
  }
  const largest = <T extends Tally>(xs: T[]) => xs.sort((a, b) => b.bytes - a.bytes);
  return {
    totalBytes,
    objects: nodes.length / width,
    byKind: largest([...kinds].map(([kind, t]) => ({ kind, ...t }))),
    repeatedStrings: largest([...strings].filter(([, t]) => t.count > 1).map(([text, t]) => ({ text, ...t }))),
  };
}

export function formatHeapSummary(summary: HeapSummary, top = 25, repeated = 0): string {
  const mib = (b: number) => (b / 1024 / 1024).toFixed(1).padStart(8);
  const lines = [`live heap ${mib(summary.totalBytes).trim()} MiB in ${summary.objects} objects; self size by kind:`];
  for (const k of summary.byKind.slice(0, top)) {
    lines.push(`${mib(k.bytes)} MiB  ${((100 * k.bytes) / summary.totalBytes).toFixed(1).padStart(5)}%  ${String(k.count).padStart(9)}  ${k.kind.slice(0, 80)}`);
  }
  if (repeated > 0) {
    lines.push('most repeated strings (copies, their bytes):');
    for (const s of summary.repeatedStrings.slice(0, repeated)) lines.push(`${mib(s.bytes)} MiB  ${String(s.count).padStart(9)}  ${JSON.stringify(s.text)}`);
  }
  return lines.join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const [file, top] = process.argv.slice(2);
  if (file === undefined) {
    process.stderr.write('usage: npx tsx bench/heap-snapshot-summary.ts FILE.heapsnapshot [TOP]\n');
    process.exit(2);
  }
  const n = Number(top ?? 25);
  process.stdout.write(`${formatHeapSummary(summarizeHeapSnapshot(JSON.parse(readFileSync(file, 'utf8')) as HeapSnapshot), n, n)}\n`);
}
