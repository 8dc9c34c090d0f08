// Preload (node --import ./scripts/alloc-profile.mjs, or in NODE_OPTIONS) that
// samples every allocation, garbage included (unlike --heap-prof, which keeps
// only what is live at exit), and at exit prints the allocation sites that
// allocated the most (ALLOC_PROFILE_TOP, default 30), by self bytes, to stderr and to
// ALLOC_PROFILE_OUT when set.
// Where a peak RSS goes when the retained heap is small: the garbage.
import { Session } from 'node:inspector';
import { writeFileSync } from 'node:fs';

const session = new Session();
session.connect();
const post = (method, params = {}) => new Promise((resolve, reject) => session.post(method, params, (err, result) => (err ? reject(err) : resolve(result))));
await post('HeapProfiler.enable');
await post('HeapProfiler.startSampling', { samplingInterval: 64 * 1024, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });

function summarize(profile, top = 30) {
  const sites = new Map();
  let total = 0;
  const walk = (node, stack) => {
    const frame = node.callFrame;
    const where = `${frame.functionName || '(anonymous)'} ${frame.url.replace(/^.*\/(node_modules|src|bench|test)\//, '$1/')}:${frame.lineNumber + 1}`;
    if (node.selfSize > 0) {
      // Attribute to the innermost frame in Gatehouse or a library, and keep the caller chain short.
      const key = [where, ...stack.slice(-3).reverse()].join(' <- ');
      sites.set(key, (sites.get(key) ?? 0) + node.selfSize);
      total += node.selfSize;
    }
    for (const child of node.children) walk(child, [...stack, where]);
  };
  walk(profile.head, []);
  const lines = [`sampled allocations: ${(total / 2 ** 20).toFixed(0)} MiB in all (garbage included)`];
  for (const [key, bytes] of [...sites].sort((a, b) => b[1] - a[1]).slice(0, top)) lines.push(`${(bytes / 2 ** 20).toFixed(1).padStart(8)} MiB  ${key}`);
  return lines.join('\n');
}

let written = false;
async function dump() {
  if (written) return;
  written = true;
  const { profile } = await post('HeapProfiler.getSamplingProfile');
  const text = summarize(profile, Number(process.env.ALLOC_PROFILE_TOP ?? 30));
  process.stderr.write(`\n[alloc-profile pid ${process.pid}]\n${text}\n`);
  if (process.env.ALLOC_PROFILE_OUT) writeFileSync(`${process.env.ALLOC_PROFILE_OUT}.${process.pid}.txt`, `${text}\n`);
}
process.on('SIGUSR2', () => void dump());
process.on('beforeExit', () => void dump());
