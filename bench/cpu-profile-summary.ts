// Summarises a V8 CPU profile (node --cpu-prof): where self time goes, by
// function and by package, so a bench can say where a server spends its time.
//
//   npx tsx bench/cpu-profile-summary.ts FILE.cpuprofile [TOP]
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { shareRows } from './report.js';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Where a script lives, shortened to its package or source folder. */
function place(url: string): string {
  if (url === '') return '(V8 and native)';
  if (url.startsWith('node:')) return url;
  const modules = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (modules !== null) return modules[1] as string;
  const own = /\/((?:src|bench|test)\/.*)$/.exec(url);
  return own !== null ? (own[1] as string) : url;
}

export function summarizeCpuProfile(profile: CpuProfile, top = 25): string {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  profile.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  const total = [...selfUs.values()].reduce((a, b) => a + b, 0);
  const idle = [...selfUs].filter(([id]) => byId.get(id)?.callFrame.functionName === '(idle)').reduce((a, [, us]) => a + us, 0);
  const busy = total - idle;
  const functions = new Map<string, number>();
  const packages = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const frame = byId.get(id)?.callFrame;
    if (frame === undefined || frame.functionName === '(idle)') continue;
    const where = place(frame.url);
    const name = `${frame.functionName || '(anonymous)'} ${where}${frame.url !== '' ? `:${frame.lineNumber + 1}` : ''}`;
    functions.set(name, (functions.get(name) ?? 0) + us);
    packages.set(where, (packages.get(where) ?? 0) + us);
  }
  return [
    `busy ${(busy / 1e6).toFixed(1)} s of ${(total / 1e6).toFixed(1)} s sampled; self time, share of busy:`,
    'by package or folder:',
    ...shareRows(packages, busy, top),
    'by function:',
    ...shareRows(functions, busy, top),
  ].join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [file, top] = process.argv.slice(2);
  if (file === undefined) throw new Error('usage: cpu-profile-summary.ts FILE.cpuprofile [TOP]');
  process.stdout.write(`${summarizeCpuProfile(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile, Number(top ?? 25))}\n`);
}
