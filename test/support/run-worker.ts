// Runs test/support/store-worker.ts in separate processes and returns their
// JSON answers. `raceWorkers` starts several, waits until each is set up, then
// lets them all go at once.
import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const tsx = createRequire(import.meta.url).resolve('tsx/cli');
const worker = fileURLToPath(new URL('./store-worker.ts', import.meta.url));

export interface WorkerAnswer {
  ok: boolean;
  ready?: boolean;
  error?: string;
  actions?: number;
}

interface Running {
  child: ChildProcess;
  ready: Promise<void>;
  done: Promise<WorkerAnswer>;
}

function start(args: string[], barrier: boolean): Running {
  const child = spawn(process.execPath, [tsx, worker, ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, GATEHOUSE_WORKER_BARRIER: barrier ? '1' : '0' },
  });
  let out = '';
  let err = '';
  let markReady: () => void = () => {};
  const ready = new Promise<void>((resolve) => (markReady = resolve));
  child.stdout?.on('data', (c: Buffer) => {
    out += c.toString();
    if (out.includes('"ready":true')) markReady();
  });
  child.stderr?.on('data', (c: Buffer) => (err += c.toString()));
  const done = new Promise<WorkerAnswer>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', () => {
      markReady();
      const line = out.trim().split('\n').filter((l) => !l.includes('"ready":true')).pop() ?? '';
      try {
        resolve(JSON.parse(line) as WorkerAnswer);
      } catch {
        reject(new Error(`worker printed no answer: ${out}\n${err}`));
      }
    });
  });
  return { child, ready, done };
}

export function runWorker(args: string[]): Promise<WorkerAnswer> {
  const running = start(args, false);
  running.child.stdin?.end();
  return running.done;
}

/** Starts every worker, waits until all are ready, then releases them together. */
export async function raceWorkers(argsList: string[][]): Promise<WorkerAnswer[]> {
  const running = argsList.map((args) => start(args, true));
  await Promise.all(running.map((r) => r.ready));
  for (const r of running) r.child.stdin?.end('go\n');
  return Promise.all(running.map((r) => r.done));
}
