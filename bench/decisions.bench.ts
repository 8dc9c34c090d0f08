// The decision API against a bare node:http server answering a fixed JSON
// body, in the same run, on 100,000 members across 1,000 workspaces (a SQLite
// store seeded row by row with what an apply writes).
//
//   npm run bench -- decisions
//   DECISIONS_BENCH_SECONDS=5 DECISIONS_BENCH_CONCURRENCY=32 npm run bench -- decisions
//
// Measures: requests/s (closed loop, fixed concurrency, the two servers taking
// turns in windows so background load falls on both alike), p99 latency at
// half the bare server's rate (open loop), the same with half of all members
// and grants expired, the server's peak RSS, how long a store change takes to
// show in /v1/check (p99 over 100 changes), and `gatehouse review` of the
// 100,000 members with 1,000,000 recorded decisions.
//
// Each server runs in a child process (this file with GATEHOUSE_BENCH_ROLE)
// so the load generator does not share its event loop.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { Agent, createServer, request } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { DatabaseSync } from 'node:sqlite';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { percentile, report, timeIt } from './report.js';
import { runDecisionApi } from '../src/http/index.js';
import { createApiToken } from '../src/http/tokens.js';
import { gatherReview } from '../src/review/gather.js';
import { reviewAccess } from '../src/review/review.js';
import { aMember, aSupportGrant, aWorkspace } from '../src/rules/testing/builders.js';
import { openStore } from '../src/store/store.js';
import { newId } from '../src/store/ids.js';
import { silentLogger } from '../src/util/log.js';
import { syncAll } from '../test/support/engine.js';

const WORKSPACES = Number(process.env.DECISIONS_BENCH_WORKSPACES ?? 1000);
const MEMBERS = Number(process.env.DECISIONS_BENCH_MEMBERS_PER_WORKSPACE ?? 100);
const SECONDS = Number(process.env.DECISIONS_BENCH_SECONDS ?? 4);
const CONCURRENCY = Number(process.env.DECISIONS_BENCH_CONCURRENCY ?? 32);
const CHANGES = Number(process.env.DECISIONS_BENCH_CHANGES ?? 100);
const USAGE_PER_MEMBER = 10;
/** A rate the single load-generating process can hold on schedule on a small machine. */
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

// ---- servers (child processes) ----

async function serveDecisions(): Promise<void> {
  const store = await openStore(`sqlite:${process.env.DECISIONS_BENCH_STORE}`);
  const api = await runDecisionApi({ store, dsn: `sqlite:${process.env.DECISIONS_BENCH_STORE}`, host: '127.0.0.1', port: 0, logger: silentLogger(), rateLimitPerSecond: 0 });
  process.stdout.write(`${JSON.stringify({ url: api.url })}\n`);
  const lines = createInterface({ input: process.stdin });
  lines.on('line', (line) => {
    if (line === 'rss') process.stdout.write(`${JSON.stringify({ peakRssMiB: process.resourceUsage().maxRSS / 1024 })}\n`);
  });
  lines.on('close', () => void api.close().then(() => store.close()).then(() => process.exit(0)));
}

async function serveBare(): Promise<void> {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(FIXED) });
      res.end(FIXED);
    });
  });
  server.keepAliveTimeout = 72_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` })}\n`);
  createInterface({ input: process.stdin }).on('close', () => server.close(() => process.exit(0)));
}

// ---- load side ----

interface Child {
  url: string;
  ask(line: string): Promise<string>;
  stop(): Promise<void>;
}

async function startChild(role: string, env: Record<string, string> = {}): Promise<Child> {
  const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
  const child = spawn(process.execPath, ['--import', tsx, fileURLToPath(import.meta.url)], {
    env: { ...process.env, ...env, GATEHOUSE_BENCH_ROLE: role },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const waiting: Array<(line: string) => void> = [];
  createInterface({ input: child.stdout }).on('line', (text) => waiting.shift()?.(text));
  const next = () => new Promise<string>((resolve) => waiting.push(resolve));
  const first = JSON.parse(await next()) as { url: string };
  return {
    url: first.url,
    ask: (line) => {
      const reply = next();
      child.stdin.write(`${line}\n`);
      return reply;
    },
    stop: () =>
      new Promise((resolve) => {
        child.once('exit', () => resolve());
        child.stdin.end();
      }),
  };
}

function post(url: URL, body: string, token: string, agent: Agent): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: url.hostname, port: url.port, path: '/v1/check', method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), authorization: `Bearer ${token}` } },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

function bodies(count: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    const w = (i * 7919) % WORKSPACES;
    const m = (i * 104_729) % MEMBERS;
    out.push(JSON.stringify({ workspace: `tenant-${w}`, subject: `m${m}@ws-${w}.example`, permission: i % 4 === 0 ? 'create-segment' : 'view-dashboard', ip: '203.0.113.9', loginMethod: 'local', mfa: true, idleSeconds: 60 }));
  }
  return out;
}

/** Closed loop: CONCURRENCY requests in flight for `seconds`; requests per second. */
async function closedLoop(url: string, token: string, payloads: string[], seconds: number): Promise<{ rps: number; failures: number }> {
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const target = new URL(url);
  const end = performance.now() + seconds * 1000;
  let done = 0;
  let failures = 0;
  let i = 0;
  const worker = async () => {
    while (performance.now() < end) {
      const { status } = await post(target, payloads[i++ % payloads.length] as string, token, agent);
      if (status === 200) done += 1;
      else failures += 1;
    }
  };
  const start = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  agent.destroy();
  return { rps: done / ((performance.now() - start) / 1000), failures };
}

/** Open loop at `rate`: latency from the scheduled send time. */
async function openLoop(url: string, token: string, payloads: string[], rate: number, seconds: number): Promise<{ p50: number; p99: number; failures: number }> {
  const agent = new Agent({ keepAlive: true, maxSockets: 256 });
  const target = new URL(url);
  const latencies: number[] = [];
  let failures = 0;
  const pending: Promise<void>[] = [];
  const total = Math.round(rate * seconds);
  const start = performance.now() + 20;
  for (let i = 0; i < total; i++) {
    const due = start + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait - 1));
    // Yield every time, so requests are written and answers read while the schedule runs.
    else await new Promise((resolve) => setImmediate(resolve));
    pending.push(
      post(target, payloads[i % payloads.length] as string, token, agent).then(
        ({ status }) => {
          if (status === 200) latencies.push(performance.now() - due);
          else failures += 1;
        },
        () => {
          failures += 1;
        },
      ),
    );
  }
  await Promise.all(pending);
  agent.destroy();
  return { p50: percentile(latencies, 50), p99: percentile(latencies, 99), failures };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-decisions-bench-'));
  try {
    const fresh = join(dir, 'fresh.db');
    const expired = join(dir, 'expired.db');
    const seeding = await timeIt(async () => [await seed(fresh, false), await seed(expired, true)] as const);
    const [token, expiredToken] = seeding.value;
    const payloads = bodies(20_000);

    const bare = await startChild('bare');
    const gatehouse = await startChild('decisions', { DECISIONS_BENCH_STORE: fresh });
    const gatehouseExpired = await startChild('decisions', { DECISIONS_BENCH_STORE: expired });
    // Warm-up: every workspace's facts loaded once, JIT warm.
    await closedLoop(gatehouse.url, token, payloads, 2);
    await closedLoop(gatehouseExpired.url, expiredToken, payloads, 2);
    await closedLoop(bare.url, token, payloads, 1);

    const rates = { bare: [] as number[], gatehouse: [] as number[], expired: [] as number[] };
    let failures = 0;
    for (let round = 0; round < 2; round++) {
      const b = await closedLoop(bare.url, token, payloads, SECONDS);
      const g = await closedLoop(gatehouse.url, token, payloads, SECONDS);
      const e = await closedLoop(gatehouseExpired.url, expiredToken, payloads, SECONDS);
      rates.bare.push(b.rps);
      rates.gatehouse.push(g.rps);
      rates.expired.push(e.rps);
      failures += b.failures + g.failures + e.failures;
    }
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const bareRps = mean(rates.bare);
    const gatehouseRps = mean(rates.gatehouse);
    const expiredRps = mean(rates.expired);
    const loadRate = Math.round(bareRps * 0.5);
    const latency = await openLoop(gatehouse.url, token, payloads, loadRate, SECONDS);
    const bareLatency = await openLoop(bare.url, token, payloads, loadRate, SECONDS);
    const steady = await openLoop(gatehouse.url, token, payloads, STEADY_RATE, SECONDS);
    const bareSteady = await openLoop(bare.url, token, payloads, STEADY_RATE, SECONDS);

    // A store change (a member's role, written by another connection) until /v1/check shows it.
    const writer = await openStore(`sqlite:${fresh}`);
    const visibleMs: number[] = [];
    const agent = new Agent({ keepAlive: true });
    const target = new URL(gatehouse.url);
    for (let i = 0; i < CHANGES; i++) {
      const w = (i * 13) % WORKSPACES;
      const email = `m1@ws-${w}.example`;
      const role = i % 2 === 0 ? 'editor' : 'viewer';
      const want = role === 'editor' ? '"allow"' : '"deny"';
      const body = JSON.stringify({ workspace: `tenant-${w}`, subject: email, permission: 'create-segment', ip: '203.0.113.9', loginMethod: 'local', mfa: true });
      // Let the API see the previous change, then cache this workspace, so what is timed is the
      // change reaching a warm cache (a cold workspace would be read fresh and show it at once).
      await new Promise((resolve) => setTimeout(resolve, 300));
      await post(target, body, token, agent);
      await writer.write((trx) => trx.updateTable('members').set({ role_id: role }).where('workspace_id', '=', `tenant-${w}`).where('email_normalized', '=', email).execute());
      const start = performance.now();
      for (;;) {
        const { text } = await post(target, body, token, agent);
        if (text.includes(`"decision":${want}`)) break;
        if (performance.now() - start > 10_000) throw new Error(`change ${i} not visible after 10 s: ${text}`);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      visibleMs.push(performance.now() - start);
    }
    agent.destroy();
    await writer.close();
    const rss = JSON.parse(await gatehouse.ask('rss')) as { peakRssMiB: number };
    await Promise.all([bare.stop(), gatehouse.stop(), gatehouseExpired.stop()]);

    // gatehouse review of the 100,000 members and 1,000,000 recorded decisions; baseline: reading the same rows raw.
    const reviewStore = await openStore(`sqlite:${fresh}`);
    const raw = await timeIt(async () => {
      await reviewStore.db.selectFrom('members').selectAll().execute();
      return (await reviewStore.db.selectFrom('permission_usage').selectAll().execute()).length;
    });
    const review = await timeIt(async () => reviewAccess(await gatherReview(reviewStore.db, { dialect: reviewStore.dialect, at: new Date(NOW) }), NOW));
    await reviewStore.close();

    report([
      ['members / workspaces', `${WORKSPACES * MEMBERS} / ${WORKSPACES}`],
      ['seeding two stores (s)', seeding.ms / 1000],
      ['concurrency (closed loop)', CONCURRENCY],
      ['bare node:http req/s', bareRps],
      ['/v1/check req/s', gatehouseRps],
      ['ratio /v1/check : bare (bar >= 0.5)', gatehouseRps / bareRps],
      ['/v1/check req/s, half expired', expiredRps],
      ['ratio half expired : none (bar >= 0.9)', expiredRps / gatehouseRps],
      ['open-loop rate (0.5 x bare req/s)', loadRate],
      ['/v1/check p50 ms at that rate', latency.p50],
      ['/v1/check p99 ms at that rate (bar < 5)', latency.p99],
      ['bare p99 ms at that rate (the load generator\'s own limit)', bareLatency.p99],
      [`/v1/check p99 ms at ${STEADY_RATE} req/s`, steady.p99],
      [`bare p99 ms at ${STEADY_RATE} req/s`, bareSteady.p99],
      ['failed requests', failures + latency.failures + bareLatency.failures + steady.failures + bareSteady.failures],
      ['serve peak RSS MiB (bar < 256)', rss.peakRssMiB],
      [`store change visible, p50 ms (${CHANGES} changes)`, percentile(visibleMs, 50)],
      ['store change visible, p99 ms (bar < 1000)', percentile(visibleMs, 99)],
      ['raw read of members + usage (s)', raw.ms / 1000],
      ['usage rows (recorded decisions)', raw.value],
      ['review of all workspaces (s, bar < 10)', review.ms / 1000],
      ['review findings', review.value.workspaces.reduce((n, w) => n + w.findings, 0)],
    ]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const role = process.env.GATEHOUSE_BENCH_ROLE;
if (role === 'decisions') await serveDecisions();
else if (role === 'bare') await serveBare();
else await main();
