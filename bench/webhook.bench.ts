// Admission webhook latency over TLS at a fixed request rate, against a bare
// node:https server that echoes the same payloads with the same certificate,
// in the same run. The servers run in a child process (this file with
// GATEHOUSE_BENCH_ROLE=server) so the load generator does not share their
// event loop. Open loop: requests leave on schedule, whether or not earlier
// ones were answered, and latency counts from the scheduled send time. The
// two servers take turns in one-second windows, so background load on the
// machine falls on both alike.
//
//   npm run bench -- webhook
//   WEBHOOK_BENCH_RATE=400 WEBHOOK_BENCH_SECONDS=20 npm run bench -- webhook
import { spawn } from 'node:child_process';
import { createServer, Agent, request } from 'node:https';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { loadavg } from 'node:os';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { percentile, report } from './report.js';
import { getDefaultProfile, type GatehouseObject } from '../src/model/index.js';
import { createObjectIndex } from '../src/rules/index.js';
import { aMember, anAdmin, aRole, aSupportGrant, aWorkspace } from '../src/rules/testing/builders.js';
import { StaticCertificateSource } from '../src/kube/webhook/certificate-source.js';
import { cachingAuthorizer } from '../src/kube/webhook/escalation.js';
import { startAdmissionWebhook } from '../src/kube/webhook/server.js';
import { anAdmissionReview, createTestCertificates } from '../src/kube/webhook/testing.js';
import { silentLogger } from '../src/util/log.js';

const RATE = Number(process.env.WEBHOOK_BENCH_RATE ?? 200);
const SECONDS = Number(process.env.WEBHOOK_BENCH_SECONDS ?? 10);
const WARMUP_SECONDS = 2;
const WORKSPACES = 10;
const MEMBERS_PER_WORKSPACE = 100;
const CREATED = '2026-01-01T00:00:00Z';

/** 10 Workspaces x 100 Members (one admin each) and a custom Role each: 1,000 members. */
function cluster(): GatehouseObject[] {
  const objects: GatehouseObject[] = [];
  const created = { creationTimestamp: CREATED };
  for (let w = 0; w < WORKSPACES; w++) {
    const workspace = `ws-${w}`;
    const ref = { workspaceRef: { name: workspace } };
    objects.push(aWorkspace({ name: workspace, metadata: created, spec: { workspaceId: `tenant-${w}` } }));
    objects.push(aRole({ name: `analyst-${w}`, metadata: created, spec: { ...ref, displayName: 'Analyst' } }));
    objects.push(anAdmin({ name: `admin-${w}`, metadata: created, spec: { ...ref, email: `admin@ws-${w}.example` } }));
    for (let m = 1; m < MEMBERS_PER_WORKSPACE; m++) {
      const role = m % 3 === 0 ? `analyst-${w}` : m % 3 === 1 ? 'editor' : 'viewer';
      objects.push(aMember({ name: `m-${w}-${m}`, metadata: created, spec: { ...ref, email: `m${m}@ws-${w}.example`, role } }));
    }
  }
  return objects;
}

/** What a GitOps sync sends most: Member creates and role changes, a Role edit, a grant, a refused delete. */
function payloads(): string[] {
  const ref = { workspaceRef: { name: 'ws-3' } };
  const now = new Date();
  const existing = aMember({ name: 'm-3-7', metadata: { creationTimestamp: CREATED }, spec: { ...ref, email: 'm7@ws-3.example', role: 'editor' } });
  const role = aRole({ name: 'analyst-3', metadata: { creationTimestamp: CREATED }, spec: { ...ref, displayName: 'Analyst' } });
  const reviews = [
    anAdmissionReview({ operation: 'CREATE', object: aMember({ name: 'newcomer', spec: { ...ref, email: 'new@ws-3.example', role: 'viewer' } }), now }),
    anAdmissionReview({ operation: 'UPDATE', object: { ...existing, spec: { ...existing.spec, role: 'analyst-3' } }, oldObject: existing, now }),
    anAdmissionReview({ operation: 'UPDATE', object: { ...role, spec: { ...role.spec, permissions: ['view-dashboard', 'create-segment', 'campaign-maker'] } }, oldObject: role, now }),
    anAdmissionReview({ operation: 'CREATE', object: aSupportGrant({ name: 'ticket-9', spec: { ...ref } }), now }),
    anAdmissionReview({ operation: 'DELETE', object: role, now }),
  ];
  return reviews.map((review) => JSON.stringify(review));
}

// ---- server side (child process) ----

async function serve(): Promise<void> {
  const { ca, serving } = await createTestCertificates();
  const objects = cluster();
  const webhook = await startAdmissionWebhook({
    listen: '127.0.0.1:0',
    tls: { source: new StaticCertificateSource(serving) },
    index: createObjectIndex(objects),
    profile: getDefaultProfile(),
    // Steady state: the SubjectAccessReview answers are cached; the API server is not part of this measurement.
    authorizer: cachingAuthorizer({ review: async () => ({ allowed: true }) }),
    logger: silentLogger(),
  });
  const echo = createServer({ cert: serving.cert, key: serving.key, minVersion: 'TLSv1.2' }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
      res.end(body);
    });
  });
  echo.keepAliveTimeout = 72_000;
  await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
  process.stdout.write(
    `${JSON.stringify({ webhookPort: webhook.port, echoPort: (echo.address() as AddressInfo).port, ca: ca.cert, members: objects.filter((o) => o.kind === 'Member').length })}\n`,
  );
  // "cpu" on stdin: this process's CPU time so far, so the load side can charge each window's CPU to its server.
  const lines = createInterface({ input: process.stdin });
  lines.on('line', (line) => {
    if (line === 'cpu') process.stdout.write(`${JSON.stringify(process.cpuUsage())}\n`);
  });
  lines.on('close', () => {
    echo.close();
    void webhook.close().then(() => process.exit(0));
  });
}

// ---- load side (this process) ----

interface Run {
  latenciesMs: number[];
  failures: number;
  sent: number;
  /** Server CPU time spent while this target was measured (0 when not tracked). */
  cpuMicros: number;
}

function post(port: number, path: string, body: string, agent: Agent, keep?: (text: string) => void): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path, method: 'POST', agent, servername: 'localhost', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => keep && chunks.push(chunk));
        res.on('end', () => {
          keep?.(Buffer.concat(chunks).toString('utf8'));
          resolve(res.statusCode ?? 0);
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** Sends `rate` requests per second for `seconds`, on schedule; resolves when all are answered. */
async function openLoop(port: number, path: string, bodies: string[], agent: Agent, rate: number, seconds: number): Promise<Run> {
  const total = Math.round(rate * seconds);
  const interval = 1000 / rate;
  const run: Run = { latenciesMs: [], failures: 0, sent: 0, cpuMicros: 0 };
  const pending: Promise<void>[] = [];
  const start = performance.now() + 20;
  for (let i = 0; i < total; i++) {
    const due = start + i * interval;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait - 1));
    while (performance.now() < due) {
      // Spin the last millisecond: timers are too coarse for a 5 ms cadence.
    }
    run.sent += 1;
    const body = bodies[i % bodies.length] as string;
    pending.push(
      post(port, path, body, agent).then(
        (status) => {
          if (status === 200) run.latenciesMs.push(performance.now() - due);
          else run.failures += 1;
        },
        () => {
          run.failures += 1;
        },
      ),
    );
  }
  await Promise.all(pending);
  return run;
}

async function main(): Promise<void> {
  // node --import tsx, not the tsx command: no wrapper process between the load and the servers.
  const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
  const profile = process.env.WEBHOOK_BENCH_PROFILE_DIR;
  const child = spawn(process.execPath, [...(profile ? ['--cpu-prof', `--cpu-prof-dir=${profile}`] : []), '--import', tsx, fileURLToPath(import.meta.url)], {
    env: { ...process.env, GATEHOUSE_BENCH_ROLE: 'server' },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  // The server answers on stdout, one line per question, in order.
  const waiting: Array<{ resolve: (line: string) => void; reject: (err: Error) => void }> = [];
  let exited: Error | undefined;
  createInterface({ input: child.stdout }).on('line', (text) => waiting.shift()?.resolve(text));
  child.once('exit', (code) => {
    exited = new Error(`the bench server exited with code ${code}`);
    for (const waiter of waiting.splice(0)) waiter.reject(exited);
  });
  const nextLine = () =>
    new Promise<string>((resolve, reject) => {
      if (exited) reject(exited);
      else waiting.push({ resolve, reject });
    });
  const line = await nextLine();
  /** The server process's CPU time in microseconds. */
  const serverCpu = async () => {
    const reply = nextLine();
    child.stdin.write('cpu\n');
    const usage = JSON.parse(await reply) as { user: number; system: number };
    return usage.user + usage.system;
  };
  const { webhookPort, echoPort, ca, members } = JSON.parse(line) as { webhookPort: number; echoPort: number; ca: string; members: number };
  const bodies = payloads();
  const loadBefore = loadavg()[0] ?? 0;
  const agent = () => new Agent({ keepAlive: true, maxSockets: 32, ca });

  try {
    const webhookAgent = agent();
    const echoAgent = agent();
    // What the webhook answers each payload, so the figures are about real decisions.
    const answers: string[] = [];
    for (const body of bodies) {
      await post(webhookPort, '/validate', body, webhookAgent, (text) => {
        const response = (JSON.parse(text) as { response: { allowed: boolean; status?: { details?: { causes?: Array<{ reason?: string }> } } } }).response;
        answers.push(response.allowed ? 'allowed' : `denied (${response.status?.details?.causes?.map((c) => c.reason).join(', ')})`);
      });
    }
    // Warm up both (JIT, TLS handshakes, sockets), then measure them in alternating
    // one-second windows at the same rate, so both see the same background noise.
    await openLoop(echoPort, '/', bodies, echoAgent, RATE, WARMUP_SECONDS);
    await openLoop(webhookPort, '/validate', bodies, webhookAgent, RATE, WARMUP_SECONDS);
    const echo: Run = { latenciesMs: [], failures: 0, sent: 0, cpuMicros: 0 };
    const webhook: Run = { latenciesMs: [], failures: 0, sent: 0, cpuMicros: 0 };
    const measure = async (into: Run, port: number, path: string, agentFor: Agent) => {
      const cpuBefore = await serverCpu();
      const run = await openLoop(port, path, bodies, agentFor, RATE, 1);
      into.cpuMicros += (await serverCpu()) - cpuBefore;
      into.latenciesMs.push(...run.latenciesMs);
      into.failures += run.failures;
      into.sent += run.sent;
    };
    for (let window = 0; window < SECONDS; window++) {
      await measure(echo, echoPort, '/', echoAgent);
      await measure(webhook, webhookPort, '/validate', webhookAgent);
    }
    webhookAgent.destroy();
    echoAgent.destroy();

    const p = (run: Run, q: number) => percentile(run.latenciesMs, q);
    // Figures from a busy machine mean little: say how busy it was.
    const ratio = p(webhook, 99) / p(echo, 99);
    report([
      ['load average before, after', `${loadBefore.toFixed(2)}, ${(loadavg()[0] ?? 0).toFixed(2)}`],
      ['members in the index', members],
      ['payloads (bytes)', bodies.map((b) => b.length).join(', ')],
      ['webhook answers', answers.join(', ')],
      ['rate (requests/s)', RATE],
      ['requests per target', webhook.sent],
      ['echo p50 (ms)', p(echo, 50)],
      ['echo p99 (ms)', p(echo, 99)],
      ['echo max (ms)', echo.latenciesMs.reduce((a, b) => Math.max(a, b), 0)],
      ['webhook p50 (ms)', p(webhook, 50)],
      ['webhook p99 (ms)', p(webhook, 99)],
      ['webhook max (ms)', webhook.latenciesMs.reduce((a, b) => Math.max(a, b), 0)],
      ['p99 ratio webhook/echo', ratio],
      // Independent of other load on the machine: what each request costs the server.
      ['echo server CPU per request (µs)', echo.cpuMicros / echo.sent],
      ['webhook server CPU per request (µs)', webhook.cpuMicros / webhook.sent],
      ['failed requests (echo, webhook)', `${echo.failures}, ${webhook.failures}`],
      ['goal webhook p99 < 10 ms', p(webhook, 99) < 10 ? 'met' : 'MISSED'],
      ['goal ratio <= 2x', ratio <= 2 ? 'met' : 'MISSED'],
    ]);
    if (webhook.failures > 0 || echo.failures > 0) process.exitCode = 1;
  } finally {
    child.stdin.end();
    await new Promise((resolve) => child.once('exit', resolve));
  }
}

if (process.env.GATEHOUSE_BENCH_ROLE === 'server') await serve();
else await main();
