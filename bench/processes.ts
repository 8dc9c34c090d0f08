// Gatehouse as its own process in the benchmarks: spawned the way people run
// it, with its peak RSS read from the kernel. By default the compiled CLI, as
// the container image runs it (`npm run build`, done once per bench process:
// tsx would add its compiler and the sources' source maps to every figure);
// GATEHOUSE_BENCH_CLI=tsx runs the sources instead.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

export const REPO = fileURLToPath(new URL('..', import.meta.url));
const TIME = '/usr/bin/time';
export const CLI_BUILD = process.env.GATEHOUSE_BENCH_CLI === 'tsx' ? 'sources through tsx' : 'compiled (npm run build)';
let built = false;

/** `node bin/gatehouse.js ARGS` after a build, or `node --import tsx src/cli/main.ts ARGS`: one process either way. */
export function gatehouseCommand(args: string[], nodeArgs: string[] = []): string[] {
  if (process.env.GATEHOUSE_BENCH_CLI === 'tsx') return [process.execPath, '--import', 'tsx', ...nodeArgs, join(REPO, 'src/cli/main.ts'), ...args];
  prepareGatehouse();
  return [process.execPath, ...nodeArgs, join(REPO, 'bin/gatehouse.js'), ...args];
}

/** Builds the CLI (once): call it before anything is timed. */
export function prepareGatehouse(): void {
  if (built || process.env.GATEHOUSE_BENCH_CLI === 'tsx') return;
  const build = spawnSync(process.execPath, [join(REPO, 'scripts/build.mjs')], { cwd: REPO, stdio: ['ignore', 'ignore', 'inherit'] });
  if (build.status !== 0) throw new Error(`npm run build failed (exit ${build.status}); GATEHOUSE_BENCH_CLI=tsx runs the sources instead`);
  built = true;
}

export function spawnGatehouse(args: string[], options: { nodeArgs?: string[]; env?: NodeJS.ProcessEnv } = {}): ChildProcess {
  const [command, ...rest] = gatehouseCommand(args, options.nodeArgs);
  return spawn(command as string, rest, { cwd: REPO, stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, ...options.env } });
}

/** CPU seconds (user + system) a running process has used so far, from /proc/PID/stat. */
export function procCpuSeconds(pid: number): number {
  // utime and stime are fields 14 and 15, in clock ticks (100 per second on Linux); the command name may hold spaces.
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/**
 * CPU time every other process on the machine has run so far, ns by pid, with its command, from
 * /proc/PID/task/TID/schedstat (nanoseconds, unlike /proc/PID/stat's 10 ms ticks); the processes
 * in `own` are left out. Keyed by pid, not by command: a kernel worker's command names the work it
 * is doing and changes between readings. Empty where /proc has no schedstat. Read between runs,
 * not during one: the walk itself costs a few milliseconds.
 */
export function otherProcessesCpuNs(own: ReadonlySet<number>): Map<number, { command: string; ns: number }> {
  const byPid = new Map<number, { command: string; ns: number }>();
  let pids: number[];
  try {
    pids = readdirSync('/proc')
      .filter((name) => /^\d+$/.test(name))
      .map(Number)
      .filter((pid) => !own.has(pid));
  } catch {
    return byPid;
  }
  for (const pid of pids) {
    try {
      const command = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
      let ns = 0;
      for (const tid of readdirSync(`/proc/${pid}/task`)) ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ', 1)[0]);
      byPid.set(pid, { command, ns });
    } catch {
      // The process ended meanwhile.
    }
  }
  return byPid;
}

/** What other processes ran between two readings of otherProcessesCpuNs: total ms, and the busiest process as "command (pid)". */
export function otherProcessesSince(
  before: ReadonlyMap<number, { ns: number }>,
  after: ReadonlyMap<number, { command: string; ns: number }>,
): { ms: number; busiest: string | undefined; busiestMs: number } {
  let ms = 0;
  let busiest: string | undefined;
  let busiestMs = 0;
  for (const [pid, { command, ns }] of after) {
    // A process started meanwhile ran all its time within; one whose threads ended counts at least 0.
    const ran = Math.max(0, ns - (before.get(pid)?.ns ?? 0)) / 1e6;
    ms += ran;
    if (ran > busiestMs) [busiest, busiestMs] = [`${command} (${pid})`, ran];
  }
  return { ms, busiest, busiestMs };
}

/** VmHWM (peak) or VmRSS (now) of a running process, MiB. */
export function procMemory(pid: number, field: 'VmHWM' | 'VmRSS'): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) / 1024 : Number.NaN;
}

export async function stopProcess(child: ChildProcess | undefined): Promise<void> {
  if (child?.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  await new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      resolve(undefined);
    }, 10_000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(undefined);
    });
  });
}

export interface MeasuredRun {
  code: number | null;
  seconds: number;
  /** Peak RSS of the Gatehouse process, MiB (from /usr/bin/time, else the last VmHWM seen). */
  peakRssMiB: number;
  stdout: string;
  stderr: string;
}

/** Runs one CLI command to its end: wall time and peak RSS. */
export async function runMeasured(args: string[], env: NodeJS.ProcessEnv = {}): Promise<MeasuredRun> {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-bench-time-'));
  const timeFile = join(dir, 'time');
  const command = gatehouseCommand(args);
  const withTime = existsSync(TIME) ? [TIME, '-f', '%M', '-o', timeFile, ...command] : command;
  const started = performance.now();
  const child = spawn(withTime[0] as string, withTime.slice(1), { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  // Without /usr/bin/time: sample the peak while it runs.
  let sampled = 0;
  const sampler = existsSync(TIME)
    ? undefined
    : setInterval(() => {
        try {
          sampled = Math.max(sampled, procMemory(child.pid as number, 'VmHWM'));
        } catch {
          // Exited meanwhile.
        }
      }, 50);
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  const seconds = (performance.now() - started) / 1000;
  if (sampler !== undefined) clearInterval(sampler);
  let peakRssMiB = sampled;
  if (existsSync(timeFile)) {
    const kb = Number(readFileSync(timeFile, 'utf8').trim().split('\n').pop());
    if (Number.isFinite(kb)) peakRssMiB = kb / 1024;
  }
  rmSync(dir, { recursive: true, force: true });
  return { code, seconds, peakRssMiB, stdout, stderr };
}

/** Sum of a Prometheus metric's samples, optionally only those whose labels contain `labels`. */
export function metricValue(text: string, name: string, labels?: string): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== ' ' && rest[0] !== '{') continue;
    if (labels !== undefined && !rest.includes(labels)) continue;
    sum += Number(rest.slice(rest.lastIndexOf(' ') + 1));
  }
  return sum;
}

export async function scrape(url: string): Promise<string> {
  const res = await fetch(url);
  return res.text();
}

/** The load average now, for the report (the machine is shared). */
export function loadAverage(): string {
  return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
}
