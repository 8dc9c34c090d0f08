// Start-up cost of the installed command, as CPU time (user + system) of whole processes,
// against a bare `node -e 0` measured in the same run:
//   gatehouse --version                 goal: at most 3x node -e 0
//   gatehouse validate examples/acme    goal: at most 6x node -e 0
// The three commands take turns, so a busy machine slows each of them alike. The CLI is
// built first (npm run build) and run through bin/gatehouse.js, as a user's install runs it;
// one run of each before measuring fills Node's compile cache, as a user's first call does.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { report } from './report.js';

const ROUNDS = Number(process.env.GATEHOUSE_BENCH_ROUNDS ?? 30);
const root = fileURLToPath(new URL('..', import.meta.url));
const bin = `${root}bin/gatehouse.js`;

/** CPU seconds (user + system) used so far by this process's finished children (Linux). */
function childrenCpuMs(): number {
  // Fields 16 and 17 of /proc/self/stat (cutime, cstime), in clock ticks of 10 ms.
  const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[13]) + Number(fields[14])) * 10;
}

try {
  childrenCpuMs();
} catch {
  process.stdout.write('startup: skipped, children CPU time is read from /proc/self/stat (Linux only)\n');
  process.exit(0);
}

const build = spawnSync(process.execPath, [`${root}scripts/build.mjs`], { stdio: 'inherit' });
if (build.status !== 0) throw new Error('npm run build failed; the start-up benchmark measures the built CLI');

const commands: Array<{ name: string; args: string[]; goal?: number }> = [
  { name: 'node -e 0', args: ['-e', '0'] },
  { name: 'gatehouse --version', args: [bin, '--version'], goal: 3 },
  { name: 'gatehouse validate examples/acme', args: [bin, 'validate', 'examples/acme'], goal: 6 },
];

function runOnce(args: string[]): number {
  const before = childrenCpuMs();
  const result = spawnSync(process.execPath, args, { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] });
  if (result.status !== 0) throw new Error(`${args.join(' ')} exited ${result.status}: ${result.stderr.toString()}`);
  return childrenCpuMs() - before;
}

for (const command of commands) runOnce(command.args);
const totals = commands.map(() => 0);
for (let round = 0; round < ROUNDS; round += 1) {
  commands.forEach((command, i) => (totals[i]! += runOnce(command.args)));
}
const means = totals.map((total) => total / ROUNDS);
const baseline = means[0]!;
const rows: Array<[string, string | number]> = [['rounds (each command, interleaved)', ROUNDS]];
commands.forEach((command, i) => {
  const ratio = means[i]! / baseline;
  rows.push([`${command.name}: CPU ms per run`, means[i]!]);
  if (command.goal !== undefined) {
    rows.push([`${command.name}: x node -e 0 (goal <= ${command.goal}x)`, `${ratio.toFixed(2)}x ${ratio <= command.goal ? 'met' : 'NOT MET'}`]);
  }
});
report(rows);
