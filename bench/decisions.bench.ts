// The decision API against a bare node:http server answering a fixed JSON
// body, in the same run and measured the same way, on 100,000 members across
// 1,000 workspaces (a SQLite store seeded row by row with what an apply writes).
//
//   npm run bench -- decisions
//   DECISIONS_BENCH_SECONDS=10 DECISIONS_BENCH_OPEN_SECONDS=20 npm run bench -- decisions
//   DECISIONS_BENCH_ROUNDS=7 DECISIONS_BENCH_OPEN_ROUNDS=5 npm run bench -- decisions
//   DECISIONS_BENCH_SERVE_NODE_FLAGS="--trace-gc" npm run bench -- decisions
//
// Three processes besides this one: the server under test (the real
// `gatehouse serve`, or bench/decisions-bare.ts), and the load generator
// (bench/decisions-load.ts, keep-alive sockets sending prebuilt requests). On two cores or more the
// servers are pinned to core 0 and the generator to core 1, so the generator
// never takes the server's CPU; the report says how busy each was. Only the
// server being measured runs: the others are stopped (SIGSTOP) meanwhile.
//
// Measures: requests/s (closed loop, in rounds with the servers taking turns
// so a slow spell of the machine falls on each alike); latency percentiles at half the
// bare server's rate (measured again just before each run, and the run made again when that rate
// moved across it), in rounds, and at a fixed modest rate (open loop, from
// each request's due time: no coordinated omission; after a second at the
// same rate on the same connections, not counted); the same with half of
// all members and grants expired; the server's peak RSS; how long a store
// change takes to show in /v1/check (p99 over 100 changes); and `gatehouse
// review` of the 100,000 members with 1,000,000 recorded decisions. Each bar
// is printed met or not; those on rates and p99s are judged on the median
// round, and every round is printed.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { DatabaseSync } from 'node:sqlite';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Pool } from 'undici';
import { summarizeCpuProfile } from './cpu-profile-summary.js';
import type { ClosedLoopResult, OpenLoopResult } from './decisions-load.js';
import { loadAverage, otherProcessesCpuNs, otherProcessesSince, prepareGatehouse, procCpuSeconds, procMemory } from './processes.js';
import { percentile, report, timeIt } from './report.js';
import { createApiToken } from '../src/http/tokens.js';
import { gatherReview } from '../src/review/gather.js';
import { reviewAccess } from '../src/review/review.js';
import { aMember, aSupportGrant, aWorkspace } from '../src/rules/testing/builders.js';
import { openStore } from '../src/store/store.js';
import { newId } from '../src/store/ids.js';
import { syncAll } from '../test/support/engine.js';

const WORKSPACES = Number(process.env.DECISIONS_BENCH_WORKSPACES ?? 1000);
const MEMBERS = Number(process.env.DECISIONS_BENCH_MEMBERS_PER_WORKSPACE ?? 100);
/**
 * Length of each closed-loop window, and how many rounds (a window per server each). The machines
 * this runs on change speed for seconds at a time (the same server, alone, answered 18,000 and
 * 30,000 requests/s a minute apart): the ratios are taken within each round, servers back to back,
 * and the bars judged on the median round, so one slow spell moves one round, not the verdict.
 */
const SECONDS = Number(process.env.DECISIONS_BENCH_SECONDS ?? 4);
const ROUNDS = Number(process.env.DECISIONS_BENCH_ROUNDS ?? 5);
const WARMUP_SECONDS = Number(process.env.DECISIONS_BENCH_WARMUP_SECONDS ?? 3);
const CONCURRENCY = Number(process.env.DECISIONS_BENCH_CONCURRENCY ?? 32);
/**
 * Length of each open-loop run. The p99 is that of the server at that load, not of one window: a
 * stall of the machine (every server's runs, the bare one's too, had some with a p99.9 of 25.9 to
 * 30.5 ms) makes about 1,300 answers late at 15,000/s, most of a 10 s run's 1,500 above its p99, so a
 * 10 s run's p99 followed whether one fell in it. 30 s runs hold three times the answers.
 */
const OPEN_SECONDS = Number(process.env.DECISIONS_BENCH_OPEN_SECONDS ?? 30);
/** Open-loop rounds at the bar's rate (each: /v1/check, bare, half expired); the p99 bar is judged on the median round, every round printed. */
const OPEN_ROUNDS = Number(process.env.DECISIONS_BENCH_OPEN_ROUNDS ?? 3);
const OPEN_CONNECTIONS = Number(process.env.DECISIONS_BENCH_OPEN_CONNECTIONS ?? 64);
/**
 * How far the bare server's closed-loop rate may move between just before and just after a run at
 * the bar's rate. On a calm machine it moved by 0.6 to 6.6% from one closed-loop round to the next;
 * when the machine changed speed, by 42 to 43% (1 December 2026: 23,605 then 33,798 requests/s at
 * 23:20 UTC, 37,638 then 21,767 at 23:50).
 */
const STEADY_TOLERANCE = Number(process.env.DECISIONS_BENCH_STEADY_TOLERANCE ?? 0.2);
/** Attempts at each run at the bar's rate; the last one counts even when the machine changed speed across it. */
const RUN_ATTEMPTS = Number(process.env.DECISIONS_BENCH_RUN_ATTEMPTS ?? 3);
/**
 * Each open-loop run first sends at its rate for this long on the same connections, not counted,
 * as wrk2 calibrates before it measures: the latencies are those of the steady state. Counted, the
 * first second of a run (64 connections opened at once, the generator's turns 4 to 13 ms apart and
 * its major GC of the run before) held 250 to 450 of the answers over 5 ms at 15,000/s, up to a
 * third of a 10 s run's p99 budget.
 */
const OPEN_WARMUP_SECONDS = Number(process.env.DECISIONS_BENCH_OPEN_WARMUP_SECONDS ?? 1);
const CHANGES = Number(process.env.DECISIONS_BENCH_CHANGES ?? 100);
/** Above any rate the bench reaches: the limiter stays on the request path, as in production, without refusing. */
const RATE_LIMIT = Number(process.env.DECISIONS_BENCH_RATE_LIMIT ?? 1_000_000);
/** A folder: both `gatehouse serve` processes run with --cpu-prof into its subfolders none-expired/ and half-expired/, and the report ends with where their time went. */
const CPU_PROFILE_DIR = process.env.DECISIONS_BENCH_CPU_PROF;
const USAGE_PER_MEMBER = 10;
const STEADY_RATE = Number(process.env.DECISIONS_BENCH_STEADY_RATE ?? 1000);
const NOW = Date.now();
const FIXED = JSON.stringify({ decision: 'allow', reason: 'role-grants-permission', validUntil: new Date(NOW).toISOString() });

// ---- seeding (main process) ----

/** Writes 1,000 workspaces x 100 members (accepted), a support grant each, and 1,000,000 usage rows. */
async function seed(path: string, expiredHalf: boolean): Promise<string> {
  const at = new Date(NOW - 30 * 86_400_000).toISOString();
  const store = await openStore(`sqlite:${path}`);
  // One workspace through the engine gives every table's rows their real shape.
  await syncAll(store, [aWorkspace({ name: 'tenant-0', spec: { admins: { min: 0, max: 1 }, twoFactor: 'Optional' } }), aMember({ name: 'template', spec: { workspaceRef: { name: 'tenant-0' } } }), aSupportGrant({ spec: { workspaceRef: { name: 'tenant-0' }, duration: '720h' } })], at);
  const token = await createApiToken(store, { name: 'bench', actor: 'bench', at: new Date(at) });
  await store.close();
  const db = new DatabaseSync(path);
  db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = OFF');
  const rows = (table: string) => db.prepare(`select * from ${table} where workspace_id = 'tenant-0'`).all() as Array<Record<string, unknown>>;
  const insert = (table: string, template: Record<string, unknown>) => {
    const columns = Object.keys(template);
    return db.prepare(`insert into ${table} (${columns.join(',')}) values (${columns.map(() => '?').join(',')})`);
  };
  const workspace = rows('workspaces')[0] as Record<string, unknown>;
  const roles = rows('roles');
  const rolePermissions = rows('role_permissions');
  const member = rows('members')[0] as Record<string, unknown>;
  const grant = rows('support_grants')[0] as Record<string, unknown>;
  db.exec("delete from invitations; delete from invitation_outbox; delete from members; delete from support_grants; delete from role_permissions; delete from roles; delete from workspaces");
  const put = {
    workspace: insert('workspaces', workspace),
    role: insert('roles', roles[0] as Record<string, unknown>),
    rolePermission: insert('role_permissions', rolePermissions[0] as Record<string, unknown>),
    member: insert('members', member),
    grant: insert('support_grants', grant),
    usage: db.prepare('insert into permission_usage (workspace_id, email_normalized, permission_id, allowed_count, first_allowed_at, last_allowed_at) values (?,?,?,?,?,?)'),
  };
  const past = new Date(NOW - 86_400_000).toISOString();
  const future = new Date(NOW + 365 * 86_400_000).toISOString();
  const permissions = (db.prepare('select permission_id from permissions').all() as Array<{ permission_id: string }>).map((p) => p.permission_id);
  db.exec('begin');
  for (let w = 0; w < WORKSPACES; w++) {
    const ws = `tenant-${w}`;
    put.workspace.run(...(Object.values({ ...workspace, workspace_id: ws, display_name: ws }) as never[]));
    for (const r of roles) put.role.run(...(Object.values({ ...r, workspace_id: ws }) as never[]));
    for (const rp of rolePermissions) put.rolePermission.run(...(Object.values({ ...rp, workspace_id: ws }) as never[]));
    put.grant.run(...(Object.values({ ...grant, grant_id: newId(), workspace_id: ws, ends_at: expiredHalf && w % 2 === 0 ? past : future, state: 'Active' }) as never[]));
    for (let m = 0; m < MEMBERS; m++) {
      const email = `m${m}@ws-${w}.example`;
      const role = m === 0 ? 'admin' : m % 3 === 0 ? 'editor' : 'viewer';
      put.member.run(
        ...(Object.values({
          ...member,
          member_id: newId(),
          workspace_id: ws,
          email,
          email_normalized: email,
          role_id: role,
          expires_at: expiredHalf && m % 2 === 1 ? past : null,
          accepted_at: at,
          last_login_at: at,
          state: 'Active',
          source_name: `m-${w}-${m}`,
        }) as never[]),
      );
      for (let u = 0; u < USAGE_PER_MEMBER; u++) put.usage.run(ws, email, permissions[u % permissions.length] as string, 3, at, past);
    }
  }
  db.exec('commit');
  db.close();
  return token;
}

// ---- processes: the servers under test and the load generator ----

const HERE = fileURLToPath(new URL('.', import.meta.url));
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const TSX = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
/** Two cores or more: the servers on the first, the load generator on the second, so neither takes the other's CPU. */
const PINNED = availableParallelism() >= 2 && spawnSync('taskset', ['-c', '0', 'true']).status === 0;
/**
 * The niceness the servers and the load generator run at, where the machine allows it (root, or
 * CAP_SYS_NICE): above the machine's own background work, as pinning keeps them off each other's
 * core. Here the guest agent runs at -10 and took 62 to 94 ms of CPU during each 11 s run;
 * a moment of it on a server's core is answers late by as much. In an alternating test
 * at 14,000 checks/s (the same `gatehouse serve` twice, the generator at -15 for both), the calm
 * runs' p99 was 1.77 to 2.24 ms for the server at -15 and 2.16 to 3.97 ms for the one at 0.
 */
const NICENESS = Number(process.env.DECISIONS_BENCH_NICENESS ?? -15);
const PRIORITIZED = NICENESS !== 0 && spawnSync('nice', ['-n', String(NICENESS), 'nice'], { encoding: 'utf8' }).stdout.trim() === String(NICENESS);
/** Node flags for every server, bare and Gatehouse alike (e.g. "--trace-gc" to see the collections). */
const SERVER_NODE_FLAGS = (process.env.DECISIONS_BENCH_SERVE_NODE_FLAGS ?? '').split(' ').filter((f) => f !== '');

interface Proc {
  child: ChildProcess;
  /** Resolves with the next stdout line that parses as JSON and has the key. */
  next<T>(key: string): Promise<T>;
  stop(): Promise<void>;
}

function startProcess(cpu: string, args: string[], env: Record<string, string> = {}): Proc {
  const [command, ...argv] = [...(PINNED ? ['taskset', '-c', cpu] : []), ...(PRIORITIZED ? ['nice', '-n', String(NICENESS)] : []), process.execPath, ...args] as [string, ...string[]];
  const child = spawn(command, argv, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'inherit'] });
  const waiting: Array<{ key: string; resolve: (value: never) => void }> = [];
  createInterface({ input: child.stdout! }).on('line', (text) => {
    let value: Record<string, unknown>;
    try {
      value = JSON.parse(text) as Record<string, unknown>;
    } catch {
      return;
    }
    const at = waiting.findIndex((w) => w.key in value);
    if (at >= 0) waiting.splice(at, 1)[0]?.resolve(value as never);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    child,
    next: <T>(key: string) =>
      new Promise<T>((resolve, reject) => {
        waiting.push({ key, resolve: resolve as (value: never) => void });
        void exited.then(() => reject(new Error(`${args.join(' ')} exited before answering`)));
      }),
    stop: async () => {
      child.stdin?.end();
      child.kill('SIGTERM');
      await exited;
    },
  };
}

interface Server extends Proc {
  url: string;
  /** CPU seconds the server process used so far. */
  cpuSeconds(): number;
  peakRssMiB(): number;
}

async function asServer(proc: Proc): Promise<Server> {
  const { url } = await proc.next<{ url: string }>('url');
  const pid = proc.child.pid as number;
  return {
    ...proc,
    url,
    cpuSeconds: () => procCpuSeconds(pid),
    peakRssMiB: () => procMemory(pid, 'VmHWM'),
  };
}

/** The real `gatehouse serve`, with the rate limit on (set above the bench's rate) so its cost is measured too. */
function startGatehouse(store: string, profileDir?: string): Promise<Server> {
  return asServer(
    startProcess('0', [...SERVER_NODE_FLAGS, ...(profileDir !== undefined ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : []), join(ROOT, 'bin/gatehouse.js'), 'serve', '--store', `sqlite:${store}`, '--listen', '127.0.0.1:0', '--rate-limit', String(RATE_LIMIT), '--log-level', 'info']),
  );
}

function startBare(): Promise<Server> {
  return asServer(startProcess('0', [...SERVER_NODE_FLAGS, join(HERE, 'decisions-bare.ts')], { DECISIONS_BENCH_BARE_BODY: FIXED }));
}

interface LoadGenerator {
  closed(server: Server, token: string, seconds: number): Promise<ClosedLoopResult & { serverCpu: number }>;
  open(server: Server, token: string, rate: number, seconds: number): Promise<OpenRun>;
  stop(): Promise<void>;
}

/**
 * How long a server resumed after being stopped runs idle before it is measured. Its timers fell
 * due while it was stopped, and among them V8's memory reducer: the first turn after a stop finds
 * the server idle, and the reducer runs a full collection then (measured with --trace-gc after
 * stops of 22 s: ending 0.04 to 0.2 s after the resume; a 67 ms pause for `gatehouse serve` before
 * it made that collection an ordinary one, ADR 21). Under load it lands in the run. Here it is over
 * before the run begins. A server that is never stopped runs it while idle, which is what it is for.
 */
const RESUME_SETTLE_MS = 1000;

/**
 * Lets only `server` run: the others are stopped (SIGSTOP) until their turn. They share the
 * servers' core, and an idle server's own work (a timer's flush, or V8 compacting a 50 MB heap
 * once the process goes quiet: 60 to 140 ms pauses, seen with --trace-gc) took that core from
 * the one being measured. Each server now does its own catching up in its own turn, first in
 * RESUME_SETTLE_MS of rest when it was stopped until now.
 */
async function runOnly(server: Server, servers: readonly Server[], state: { running?: Server }): Promise<void> {
  for (const s of servers) s.child.kill(s === server ? 'SIGCONT' : 'SIGSTOP');
  if (state.running === server) return;
  state.running = server;
  await new Promise((resolve) => setTimeout(resolve, RESUME_SETTLE_MS));
}

function runAll(servers: readonly Server[]): void {
  for (const s of servers) s.child.kill('SIGCONT');
}

async function startLoadGenerator(servers: readonly Server[]): Promise<LoadGenerator> {
  // --expose-gc: the generator collects its own garbage before each run, not in the middle of one.
  const proc = startProcess('1', ['--expose-gc', '--import', TSX, join(HERE, 'decisions-load.ts')], { GATEHOUSE_BENCH_ROLE: 'load' });
  await proc.next('ready');
  // The bench's own processes; everything else that runs meanwhile takes a core from them.
  const own = new Set([process.pid, proc.child.pid as number, ...servers.map((s) => s.child.pid as number)]);
  // Which server runs now; the others are stopped.
  const state: { running?: Server } = {};
  // Runs one phase and measures the share of its core the server used meanwhile.
  // Also the time the machine's hypervisor took its cores away meanwhile (steal), which pauses
  // every process at once, the generator on its own core too.
  const run = async <T>(server: Server, command: object, key: string) => {
    await runOnly(server, servers, state);
    const cpu = server.cpuSeconds();
    const steal = stealMs();
    const start = performance.now();
    const result = proc.next<T>(key);
    proc.child.stdin!.write(`${JSON.stringify(command)}\n`);
    const value = await result;
    return { ...value, serverCpu: (server.cpuSeconds() - cpu) / ((performance.now() - start) / 1000), stealMs: stealMs() - steal };
  };
  return {
    closed: (server, token, seconds) => run(server, { kind: 'closed', url: server.url, token, seconds, connections: CONCURRENCY }, 'rps'),
    // An open loop also gets the CPU other processes on the machine used meanwhile: a few
    // milliseconds of them at once on the server's or the generator's core is a few milliseconds
    // of late answers (see docs/decision-api.md).
    open: async (server, token, rate, seconds) => {
      const before = otherProcessesCpuNs(own);
      const value = await run<OpenLoopResult>(server, { kind: 'open', url: server.url, token, seconds, rate, connections: OPEN_CONNECTIONS, warmupSeconds: OPEN_WARMUP_SECONDS }, 'p99');
      return { ...value, others: otherProcessesSince(before, otherProcessesCpuNs(own)) };
    },
    stop: () => proc.stop(),
  };
}

const verdict = (met: boolean) => (met ? 'met' : 'NOT met');

async function main(): Promise<void> {
  // The servers run the compiled CLI: build it from the sources being measured.
  prepareGatehouse();
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-decisions-bench-'));
  const running: Array<{ stop(): Promise<void> }> = [];
  try {
    const fresh = join(dir, 'fresh.db');
    const expired = join(dir, 'expired.db');
    const seeding = await timeIt(async () => [await seed(fresh, false), await seed(expired, true)] as const);
    const [token, expiredToken] = seeding.value;
    const loadBefore = loadAverage();

    const bare = await startBare();
    running.push(bare);
    const profileDir = (name: string) => (CPU_PROFILE_DIR !== undefined ? join(CPU_PROFILE_DIR, name) : undefined);
    const gatehouse = await startGatehouse(fresh, profileDir('none-expired'));
    running.push(gatehouse);
    const gatehouseExpired = await startGatehouse(expired, profileDir('half-expired'));
    running.push(gatehouseExpired);
    const servers = [bare, gatehouse, gatehouseExpired];
    const load = await startLoadGenerator(servers);
    // A stopped server takes its SIGTERM only once it runs again.
    running.push({ stop: async () => runAll(servers) }, load);

    // Warm-up, not counted: JIT, connections, and every workspace's facts loaded once.
    for (const [server, t] of [[gatehouse, token], [gatehouseExpired, expiredToken], [bare, token]] as const) {
      await load.closed(server, t, WARMUP_SECONDS);
      await load.open(server, t, STEADY_RATE, 1);
    }

    // One closed-loop window: a second, not counted, for the server to catch up on what it missed while stopped, then SECONDS.
    const closedWindow = async (server: Server, t: string) => {
      await load.closed(server, t, 1);
      return load.closed(server, t, SECONDS);
    };

    // Closed loop, the three servers taking turns so background load falls on each alike.
    const closed = { bare: [] as ClosedLoopResult[], gatehouse: [] as ClosedLoopResult[], expired: [] as ClosedLoopResult[] };
    const serverCpu = { bare: [] as number[], gatehouse: [] as number[], expired: [] as number[] };
    const turns = [['bare', bare, token], ['gatehouse', gatehouse, token], ['expired', gatehouseExpired, expiredToken]] as const;
    for (let round = 0; round < ROUNDS; round++) {
      // The order turns each round, so that a slow spell of the machine does not always fall on the same server.
      for (let k = 0; k < turns.length; k++) {
        const [name, server, t] = turns[(k + round) % turns.length] as (typeof turns)[number];
        const r = await closedWindow(server, t);
        closed[name].push(r);
        serverCpu[name].push(r.serverCpu);
      }
    }
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const median = (xs: number[]) => percentile(xs, 50);
    const bareRps = median(closed.bare.map((r) => r.rps));
    const gatehouseRps = median(closed.gatehouse.map((r) => r.rps));
    const expiredRps = median(closed.expired.map((r) => r.rps));
    // Each round's ratios, of servers measured back to back; the bars take the median round.
    const ratios = closed.bare.map((b, i) => (closed.gatehouse[i] as ClosedLoopResult).rps / b.rps);
    const expiredRatios = closed.gatehouse.map((g, i) => (closed.expired[i] as ClosedLoopResult).rps / g.rps);
    const closedFailures = [...closed.bare, ...closed.gatehouse, ...closed.expired].reduce((n, r) => n + r.failures, 0);

    // Open loop at half the bare rate (the bar's load), in rounds, the servers taking turns; then at a fixed modest rate.
    const open = { gatehouse: [] as BarRun[], bare: [] as BarRun[], expired: [] as BarRun[] };
    // Each run's rate is half of what the bare server answers in a closed loop just before it,
    // measured as in the closed-loop rounds. The machines this runs on change speed for a minute
    // or more, the bare server and /v1/check alike (alternating 1.5 s closed loops: about 15,000 and
    // 22,000 requests/s for a minute, then 24,000 and 42,000): a rate taken from the closed-loop
    // rounds a minute earlier asked a slowed /v1/check for more than it could answer, and the run
    // measured a growing queue (p50s of 0.4 to 2.6 s) instead of the server's latency.
    // The bare server is measured again right after each run (and that measure is the next run's
    // rate): a run across which its rate moved by more than STEADY_TOLERANCE ran on a machine
    // that changed speed in the middle, so its load was not half the bare rate of its own minute,
    // and it is run again, up to RUN_ATTEMPTS times. Every run is printed, those run again too.
    let bareJustBefore: ClosedLoopResult | undefined;
    const atRate = async (server: Server, t: string): Promise<BarRun> => {
      const unsteady: BarRun[] = [];
      for (;;) {
        const before = bareJustBefore ?? (await closedWindow(bare, token));
        const run = await load.open(server, t, Math.round(before.rps * 0.5), OPEN_SECONDS);
        const after = await closedWindow(bare, token);
        bareJustBefore = after;
        const measured: BarRun = { ...run, bareBefore: before.rps, bareAfter: after.rps, steady: Math.abs(after.rps / before.rps - 1) <= STEADY_TOLERANCE, unsteady: [] };
        if (measured.steady || unsteady.length + 1 >= RUN_ATTEMPTS) return { ...measured, unsteady };
        unsteady.push(measured);
      }
    };
    for (let round = 0; round < OPEN_ROUNDS; round++) {
      open.gatehouse.push(await atRate(gatehouse, token));
      open.bare.push(await atRate(bare, token));
      open.expired.push(await atRate(gatehouseExpired, expiredToken));
    }
    const atLoad = medianRun(open.gatehouse);
    const atLoadFailures = [...open.gatehouse, ...open.bare, ...open.expired].reduce((n, r) => n + r.failures, 0);
    const steady = await load.open(gatehouse, token, STEADY_RATE, OPEN_SECONDS);
    const bareSteady = await load.open(bare, token, STEADY_RATE, OPEN_SECONDS);
    const loadAfter = loadAverage();
    runAll(servers);

    // A store change (a member's role, written by another connection) until /v1/check shows it.
    const writer = await openStore(`sqlite:${fresh}`);
    const visibleMs: number[] = [];
    const client = new Pool(gatehouse.url, { connections: 1 });
    const post = async (body: string) => {
      const res = await client.request({ path: '/v1/check', method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body });
      return res.body.text();
    };
    for (let i = 0; i < CHANGES; i++) {
      const w = (i * 13) % WORKSPACES;
      const email = `m1@ws-${w}.example`;
      const role = i % 2 === 0 ? 'editor' : 'viewer';
      const want = role === 'editor' ? '"allow"' : '"deny"';
      const body = JSON.stringify({ workspace: `tenant-${w}`, subject: email, permission: 'create-segment', ip: '203.0.113.9', loginMethod: 'local', mfa: true });
      // Let the API see the previous change, then cache this workspace, so what is timed is the
      // change reaching a warm cache (a cold workspace would be read fresh and show it at once).
      await new Promise((resolve) => setTimeout(resolve, 300));
      await post(body);
      await writer.write((trx) => trx.updateTable('members').set({ role_id: role }).where('workspace_id', '=', `tenant-${w}`).where('email_normalized', '=', email).execute());
      const start = performance.now();
      for (;;) {
        const text = await post(body);
        if (text.includes(`"decision":${want}`)) break;
        if (performance.now() - start > 10_000) throw new Error(`change ${i} not visible after 10 s: ${text}`);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      visibleMs.push(performance.now() - start);
    }
    await client.close();
    await writer.close();
    const peakRss = Math.max(gatehouse.peakRssMiB(), gatehouseExpired.peakRssMiB());
    await Promise.all(running.splice(0).map((p) => p.stop()));

    // gatehouse review of the 100,000 members and 1,000,000 recorded decisions; baseline: reading the same rows raw.
    const reviewStore = await openStore(`sqlite:${fresh}`);
    const raw = await timeIt(async () => {
      await reviewStore.db.selectFrom('members').selectAll().execute();
      return (await reviewStore.db.selectFrom('permission_usage').selectAll().execute()).length;
    });
    const review = await timeIt(async () => reviewAccess(await gatherReview(reviewStore.db, { dialect: reviewStore.dialect, at: new Date(NOW) }), NOW));
    await reviewStore.close();

    const ratio = median(ratios);
    const expiredRatio = median(expiredRatios);
    const percent = (x: number) => `${Math.round(x * 100)}%`;
    const list = (xs: number[]) => xs.map((x) => x.toFixed(0)).join(', ');
    const list2 = (rs: ClosedLoopResult[]) => rs.map((r) => `${r.p50.toFixed(2)} / ${r.p99.toFixed(2)}`).join(', ');
    report([
      ['machine', `${availableParallelism()} cores; ${PINNED ? 'servers pinned to core 0, load generator to core 1 (taskset)' : 'not pinned'}`],
      ['niceness of the servers and the load generator', PRIORITIZED ? String(NICENESS) : `0 (${NICENESS} was asked for and not allowed: it needs root or CAP_SYS_NICE)`],
      ['node flags of both servers', SERVER_NODE_FLAGS.join(' ') || '(none)'],
      ['load average before / after the HTTP phases', `${loadBefore} / ${loadAfter}`],
      ['members / workspaces', `${WORKSPACES * MEMBERS} / ${WORKSPACES}`],
      ['seeding two stores (s)', seeding.ms / 1000],
      ['closed loop', `${CONCURRENCY} keep-alive connections, ${ROUNDS} rounds of ${SECONDS} s per server, taking turns; bars on the median round`],
      ['bare node:http req/s, median (each round)', `${bareRps.toFixed(0)} (${list(closed.bare.map((r) => r.rps))})`],
      ['/v1/check req/s, median (each round)', `${gatehouseRps.toFixed(0)} (${list(closed.gatehouse.map((r) => r.rps))})`],
      ['/v1/check req/s, half expired, median (each round)', `${expiredRps.toFixed(0)} (${list(closed.expired.map((r) => r.rps))})`],
      ['/v1/check : bare, each round', ratios.map((r) => r.toFixed(2)).join(', ')],
      ['half expired : none expired, each round', expiredRatios.map((r) => r.toFixed(2)).join(', ')],
      ['server CPU, closed loop: bare / gatehouse / half expired', `${percent(mean(serverCpu.bare))} / ${percent(mean(serverCpu.gatehouse))} / ${percent(mean(serverCpu.expired))}`],
      ['load generator CPU, closed loop: bare / gatehouse / half expired', `${percent(mean(closed.bare.map((r) => r.generatorCpu)))} / ${percent(mean(closed.gatehouse.map((r) => r.generatorCpu)))} / ${percent(mean(closed.expired.map((r) => r.generatorCpu)))}`],
      ['closed-loop latency p50 / p99 ms, each round: bare', list2(closed.bare)],
      ['closed-loop latency p50 / p99 ms, each round: /v1/check', list2(closed.gatehouse)],
      ['BAR /v1/check : bare >= 0.5 (median round)', `${ratio.toFixed(2)} ${verdict(ratio >= 0.5)}`],
      ['BAR half expired : none expired >= 0.9 (median round)', `${expiredRatio.toFixed(2)} ${verdict(expiredRatio >= 0.9)}`],
      ['open loop', `${OPEN_SECONDS} s per run after ${OPEN_WARMUP_SECONDS} s at the same rate on the same connections (not counted), ${OPEN_CONNECTIONS} keep-alive connections, latency from each request's due time; ${OPEN_ROUNDS} rounds at the bar's rate, bar on the median round`],
      [`bar's rate of each run: 0.5 x bare req/s in a ${SECONDS} s closed loop just before it; /v1/check / bare / half expired`, `${[open.gatehouse, open.bare, open.expired].map((runs) => runs.map((r) => r.rate).join(', ')).join(' / ')} (half the closed-loop rounds' median: ${Math.round(bareRps * 0.5)})`],
      [`bare req/s just before / just after each run; a run is run again (up to ${RUN_ATTEMPTS} times) when they differ by more than ${percent(STEADY_TOLERANCE)}`, `${[open.gatehouse, open.bare, open.expired].map((runs) => runs.map((r) => `${r.bareBefore.toFixed(0)}/${r.bareAfter.toFixed(0)}`).join(', ')).join(' / ')}`],
      ...open.gatehouse.flatMap((r, i) => barRunRows(`/v1/check at that rate, round ${i + 1}`, r)),
      ...open.bare.flatMap((r, i) => barRunRows(`bare at that rate, round ${i + 1}`, r)),
      ...open.expired.flatMap((r, i) => barRunRows(`/v1/check half expired at that rate, round ${i + 1}`, r)),
      ['p99 ms of each round: /v1/check / bare / half expired', [open.gatehouse, open.bare, open.expired].map((runs) => runs.map((r) => `${r.p99.toFixed(2)}${r.steady ? '' : ' (unsteady)'}`).join(', ')).join(' / ')],
      ['runs run again, the machine\'s speed having changed across them (p99 ms): /v1/check / bare / half expired', [open.gatehouse, open.bare, open.expired].map((runs) => runs.flatMap((r) => r.unsteady.map((u) => u.p99.toFixed(2))).join(', ') || 'none').join(' / ')],
      ['BAR /v1/check p99 < 5 ms at 0.5 x bare rate (median round)', `${atLoad.p99.toFixed(2)} ms ${verdict(atLoad.p99 < 5 && atLoadFailures === 0)}; rounds under 5 ms: ${open.gatehouse.filter((r) => r.p99 < 5).length} of ${OPEN_ROUNDS}`],
      ...openRows(`/v1/check at ${STEADY_RATE} req/s`, steady),
      ...openRows(`bare at ${STEADY_RATE} req/s`, bareSteady),
      ['failed requests (all phases)', closedFailures + atLoadFailures + steady.failures + bareSteady.failures],
      ['BAR serve peak RSS < 256 MiB', `${peakRss.toFixed(1)} MiB ${verdict(peakRss < 256)}`],
      [`store change visible, p50 ms (${CHANGES} changes)`, percentile(visibleMs, 50)],
      ['BAR store change visible p99 < 1000 ms', `${percentile(visibleMs, 99).toFixed(1)} ms ${verdict(percentile(visibleMs, 99) < 1000)}`],
      ['raw read of members + usage (s)', raw.ms / 1000],
      ['usage rows (recorded decisions)', raw.value],
      ['BAR review of all workspaces < 10 s', `${(review.ms / 1000).toFixed(2)} s ${verdict(review.ms < 10_000)}`],
      ['review findings', review.value.workspaces.reduce((n, w) => n + w.findings, 0)],
    ]);
    for (const name of CPU_PROFILE_DIR !== undefined ? ['none-expired', 'half-expired'] : []) {
      const dir = join(CPU_PROFILE_DIR as string, name);
      for (const file of readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'))) {
        process.stdout.write(`\ngatehouse serve (${name}) CPU profile ${join(dir, file)}\n${summarizeCpuProfile(JSON.parse(readFileSync(join(dir, file), 'utf8')))}\n`);
      }
    }
  } finally {
    await Promise.all(running.map((p) => p.stop().catch(() => {})));
    rmSync(dir, { recursive: true, force: true });
  }
}

/** CPU time the hypervisor took from this machine's cores since boot, from /proc/stat (0 where there is none). */
function stealMs(): number {
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]?.trim().split(/\s+/) ?? [];
    // cpu user nice system idle iowait irq softirq steal …, in clock ticks (100 per second on Linux).
    return Number(fields[8] ?? 0) * 10;
  } catch {
    return 0;
  }
}

type OpenRun = OpenLoopResult & { serverCpu: number; stealMs: number; others: ReturnType<typeof otherProcessesSince> };

/** A run at the bar's rate, with the bare server's closed-loop rate just before and just after it, and the runs it replaced. */
type BarRun = OpenRun & { bareBefore: number; bareAfter: number; steady: boolean; unsteady: BarRun[] };

/** The run with the median p99; of an even count, the higher of the two middle ones. */
function medianRun(runs: readonly BarRun[]): BarRun {
  return [...runs].sort((a, b) => a.p99 - b.p99)[Math.floor(runs.length / 2)] as BarRun;
}

/** A run at the bar's rate, and before it each run it replaced, marked so. */
function barRunRows(label: string, r: BarRun): Array<[string, string]> {
  return [
    ...r.unsteady.flatMap((u, i) => openRows(`${label}, attempt ${i + 1}, run again (bare ${u.bareBefore.toFixed(0)} then ${u.bareAfter.toFixed(0)} req/s)`, u)),
    ...openRows(r.steady ? label : `${label}, still unsteady after ${RUN_ATTEMPTS} attempts (bare ${r.bareBefore.toFixed(0)} then ${r.bareAfter.toFixed(0)} req/s)`, r),
  ];
}

function openRows(label: string, r: OpenRun): Array<[string, string]> {
  return [
    [
      `${label}: p50 / p90 / p99 / p99.9 / max ms`,
      `${[r.p50, r.p90, r.p99, r.p999, r.max].map((x) => x.toFixed(2)).join(' / ')} (${r.requests} answers at ${r.achievedRps.toFixed(0)}/s, ${r.failures} failed, send lag <= ${r.maxSendLagMs.toFixed(1)} ms, CPU server ${Math.round(r.serverCpu * 100)}% generator ${Math.round(r.generatorCpu * 100)}%, steal ${r.stealMs} ms, other processes ${r.others.ms.toFixed(0)} ms${r.others.busiest !== undefined ? ` (most: ${r.others.busiest} ${r.others.busiestMs.toFixed(0)} ms)` : ''})`,
    ],
  ];
}

await main();
