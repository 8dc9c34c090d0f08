// Gatehouse as its own process in the benchmarks: spawned the way people run
// it (the CLI entry point), with its peak RSS read from the kernel.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

export const REPO = fileURLToPath(new URL('..', import.meta.url));
const MAIN = join(REPO, 'src/cli/main.ts');
const TIME = '/usr/bin/time';

/** `node --import tsx src/cli/main.ts ARGS`: one process (tsx's own CLI would add a second). */
export function gatehouseCommand(args: string[], nodeArgs: string[] = []): string[] {
  return [process.execPath, '--import', 'tsx', ...nodeArgs, MAIN, ...args];
}

export function spawnGatehouse(args: string[], options: { nodeArgs?: string[]; env?: NodeJS.ProcessEnv } = {}): ChildProcess {
  const [command, ...rest] = gatehouseCommand(args, options.nodeArgs);
  return spawn(command as string, rest, { cwd: REPO, stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, ...options.env } });
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
