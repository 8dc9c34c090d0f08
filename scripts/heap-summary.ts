// Summarizes a V8 heap snapshot (node --heapsnapshot-signal, DevTools):
// self size by node type and constructor name, and the most repeated strings
// with what their copies cost. Usage: tsx scripts/heap-summary.ts FILE [TOP]
// (a snapshot of a few hundred MiB needs a few GiB: NODE_OPTIONS=--max-old-space-size=8192).
import { readFileSync } from 'node:fs';

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

const [file, topArg] = process.argv.slice(2);
if (file === undefined) {
  process.stderr.write('usage: tsx scripts/heap-summary.ts FILE.heapsnapshot [TOP]\n');
  process.exit(2);
}
const top = Number(topArg ?? 25);
const snap = JSON.parse(readFileSync(file, 'utf8')) as Snapshot;
const fields = snap.snapshot.meta.node_fields;
const width = fields.length;
const typeAt = fields.indexOf('type');
const nameAt = fields.indexOf('name');
const sizeAt = fields.indexOf('self_size');
const types = snap.snapshot.meta.node_types[0];

const byGroup = new Map<string, { count: number; bytes: number }>();
const byString = new Map<string, { count: number; bytes: number }>();
let total = 0;
for (let i = 0; i < snap.nodes.length; i += width) {
  const type = types[snap.nodes[i + typeAt] as number] as string;
  const name = snap.strings[snap.nodes[i + nameAt] as number] as string;
  const size = snap.nodes[i + sizeAt] as number;
  total += size;
  const group = type === 'object' || type === 'closure' || type === 'native' ? `${type} ${name}` : type === 'string' || type === 'concatenated string' || type === 'sliced string' ? 'string' : `${type} ${name.slice(0, 40)}`;
  const g = byGroup.get(group) ?? { count: 0, bytes: 0 };
  g.count += 1;
  g.bytes += size;
  byGroup.set(group, g);
  if (type === 'string') {
    const key = name.length > 80 ? `${name.slice(0, 77)}...` : name;
    const s = byString.get(key) ?? { count: 0, bytes: 0 };
    s.count += 1;
    s.bytes += size;
    byString.set(key, s);
  }
}
const mib = (n: number) => (n / 2 ** 20).toFixed(1).padStart(8);
process.stdout.write(`total self size ${mib(total)} MiB in ${snap.nodes.length / width} nodes\n\nby type and constructor (self size):\n`);
for (const [group, g] of [...byGroup].sort((a, b) => b[1].bytes - a[1].bytes).slice(0, top)) {
  process.stdout.write(`${mib(g.bytes)} MiB ${String(g.count).padStart(9)}  ${group}\n`);
}
process.stdout.write('\nmost repeated strings (copies, their bytes):\n');
for (const [text, s] of [...byString].filter(([, s]) => s.count > 1).sort((a, b) => b[1].bytes - a[1].bytes).slice(0, top)) {
  process.stdout.write(`${mib(s.bytes)} MiB ${String(s.count).padStart(9)}  ${JSON.stringify(text)}\n`);
}
