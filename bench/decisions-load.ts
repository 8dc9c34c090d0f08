// The load generator of the decisions bench, in a process of its own (pinned to
// its own core when the machine allows), so it never shares an event loop or a
// core with the server it measures. It takes one JSON command per line on stdin
// and answers one JSON line on stdout:
//
//   {"kind":"closed","url":…,"seconds":…,"connections":…}
//     Closed loop: each keep-alive connection has one request in flight, the
//     next sent when the answer arrives. Gives the most requests per second.
//   {"kind":"open","url":…,"seconds":…,"rate":…,"connections":…}
//     Open loop at a fixed rate (as wrk2 does): request i is due at start +
//     i/rate whatever happened before, and its latency is counted from that
//     due time, not from when it was sent, so a stall is charged to every
//     request that should have gone out during it (no coordinated omission).
//
// Connections are undici keep-alive pools; every answer must be a 200.
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { Pool } from 'undici';

export interface ClosedLoopResult {
  rps: number;
  requests: number;
  failures: number;
  /** Share of one core this process used while it ran. */
  generatorCpu: number;
}

export interface OpenLoopResult {
  rate: number;
  /** Requests answered per second over the run, from the first due time to the last answer. */
  achievedRps: number;
  requests: number;
  failures: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  /** How far behind its schedule the generator sent a request, at worst (ms); counted in the latencies. */
  maxSendLagMs: number;
  generatorCpu: number;
}

const WORKSPACES = Number(process.env.DECISIONS_BENCH_WORKSPACES ?? 1000);
const MEMBERS = Number(process.env.DECISIONS_BENCH_MEMBERS_PER_WORKSPACE ?? 100);

/** Check requests spread over every workspace and many members; a quarter ask for a permission viewers lack. */
export function checkBodies(count: number, workspaces = WORKSPACES, members = MEMBERS): string[] {
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    // Every workspace in turn, and a different member of it on each pass: 20,000 bodies name 20,000 members.
    const w = i % workspaces;
    const m = (Math.floor(i / workspaces) * 37 + w * 7) % members;
    out.push(JSON.stringify({ workspace: `tenant-${w}`, subject: `m${m}@ws-${w}.example`, permission: i % 4 === 0 ? 'create-segment' : 'view-dashboard', ip: '203.0.113.9', loginMethod: 'local', mfa: true, idleSeconds: 60 }));
  }
  return out;
}

const PAYLOADS = checkBodies(20_000);

function pool(url: string, connections: number): Pool {
  return new Pool(url, { connections, pipelining: 1, keepAliveTimeout: 60_000 });
}

function ask(p: Pool, token: string, body: string): Promise<number> {
  return p
    .request({ path: '/v1/check', method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body })
    .then(async (res) => {
      await res.body.dump();
      return res.statusCode;
    });
}

function cpuShare(startCpu: NodeJS.CpuUsage, startWall: number): number {
  const used = process.cpuUsage(startCpu);
  return (used.user + used.system) / 1000 / (performance.now() - startWall);
}

function quantile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] as number;
}

export async function closedLoop(url: string, token: string, seconds: number, connections: number): Promise<ClosedLoopResult> {
  const p = pool(url, connections);
  const cpu = process.cpuUsage();
  const start = performance.now();
  const end = start + seconds * 1000;
  let requests = 0;
  let failures = 0;
  let next = 0;
  const worker = async () => {
    while (performance.now() < end) {
      const status = await ask(p, token, PAYLOADS[next++ % PAYLOADS.length] as string).catch(() => 0);
      if (status === 200) requests += 1;
      else failures += 1;
    }
  };
  await Promise.all(Array.from({ length: connections }, worker));
  const elapsed = performance.now() - start;
  const generatorCpu = cpuShare(cpu, start);
  await p.close();
  return { rps: requests / (elapsed / 1000), requests, failures, generatorCpu };
}

export async function openLoop(url: string, token: string, seconds: number, rate: number, connections: number): Promise<OpenLoopResult> {
  const p = pool(url, connections);
  const total = Math.max(1, Math.round(rate * seconds));
  const latencies = new Float64Array(total);
  let answered = 0;
  let failures = 0;
  let sent = 0;
  let settled = 0;
  let maxSendLagMs = 0;
  const cpu = process.cpuUsage();
  const wall = performance.now();
  const start = wall + 5;
  const intervalMs = 1000 / rate;
  await new Promise<void>((resolve) => {
    const settle = () => {
      settled += 1;
      if (settled === total) resolve();
    };
    const tick = () => {
      const now = performance.now();
      // Send everything due by now; a late tick sends the backlog at once, each still timed from its due time.
      while (sent < total) {
        const due = start + sent * intervalMs;
        if (due > now) break;
        maxSendLagMs = Math.max(maxSendLagMs, now - due);
        const body = PAYLOADS[sent % PAYLOADS.length] as string;
        sent += 1;
        ask(p, token, body).then(
          (status) => {
            if (status === 200) latencies[answered++] = performance.now() - due;
            else failures += 1;
            settle();
          },
          () => {
            failures += 1;
            settle();
          },
        );
      }
      if (sent >= total) return;
      const wait = start + sent * intervalMs - performance.now();
      // Timers are only as fine as a millisecond: close to the next due time, spin through the event loop instead.
      if (wait > 2) setTimeout(tick, wait - 1);
      else setImmediate(tick);
    };
    tick();
  });
  const elapsed = performance.now() - start;
  const generatorCpu = cpuShare(cpu, wall);
  await p.close();
  const sorted = latencies.subarray(0, answered).sort();
  return {
    rate,
    achievedRps: answered / (elapsed / 1000),
    requests: answered,
    failures,
    p50: quantile(sorted, 0.5),
    p90: quantile(sorted, 0.9),
    p99: quantile(sorted, 0.99),
    p999: quantile(sorted, 0.999),
    max: quantile(sorted, 1),
    maxSendLagMs,
    generatorCpu,
  };
}

type Command =
  | { kind: 'closed'; url: string; token: string; seconds: number; connections: number }
  | { kind: 'open'; url: string; token: string; seconds: number; rate: number; connections: number };

if (process.env.GATEHOUSE_BENCH_ROLE === 'load') {
  process.stdout.write(`${JSON.stringify({ ready: true })}\n`);
  const queue: Command[] = [];
  let running = false;
  const drain = async () => {
    if (running) return;
    running = true;
    for (let command = queue.shift(); command !== undefined; command = queue.shift()) {
      const result =
        command.kind === 'closed'
          ? await closedLoop(command.url, command.token, command.seconds, command.connections)
          : await openLoop(command.url, command.token, command.seconds, command.rate, command.connections);
      process.stdout.write(`${JSON.stringify(result)}\n`);
    }
    running = false;
  };
  createInterface({ input: process.stdin })
    .on('line', (line) => {
      queue.push(JSON.parse(line) as Command);
      void drain();
    })
    .on('close', () => process.exit(0));
}
