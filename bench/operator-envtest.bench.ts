// Operator cold start on a real kube-apiserver (envtest): `gatehouse run` as
// its own process, a SQLite identity store, and the objects created before it
// starts. Measured in the same run, against the same API server:
//   - baseline: how fast 4 parallel creators (the real client-node) create
//     the objects (objects/s);
//   - the operator from process start until every object's status is written
//     at its generation (objects/s, and the ratio to the baseline; goal >= 0.75x);
//   - the operator's peak RSS (VmHWM from /proc) and its heap and external
//     memory, sampled from its /metrics;
//   - the operator's API writes per object, from its gatehouse_api_writes_total.
// Sizes: GATEHOUSE_BENCH_WORKSPACES (default 100) x GATEHOUSE_BENCH_MEMBERS
// (default 100). Needs KUBEBUILDER_ASSETS (or .cache/envtest); says skipped
// without it. GATEHOUSE_BENCH_HEAP_SNAPSHOT=1 also writes a heap snapshot of
// the operator after convergence (after its peak RSS is read).
// GATEHOUSE_BENCH_OPERATOR=compiled runs the built CLI (dist/bundle, `npm run
// build` first) instead of the sources under tsx; GATEHOUSE_BENCH_OPERATOR_NODE_OPTIONS
// adds V8 flags to the operator's node (e.g. --max-old-space-size=160).
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { KubeClient, gatehouseResource, type KubeObject } from '../src/kube/client.js';
import { Informer } from '../src/kube/informer.js';
import type { GatehouseObject, Kind } from '../src/model/index.js';
import { Envtest, envtestSkipReason } from '../test/support/envtest.js';
import { report } from './report.js';

const API_VERSION = 'gatehouse.dev/v1alpha1';
const REPO = fileURLToPath(new URL('..', import.meta.url));
const WORKSPACES = Number(process.env.GATEHOUSE_BENCH_WORKSPACES ?? 100);
const MEMBERS_PER_WORKSPACE = Number(process.env.GATEHOUSE_BENCH_MEMBERS ?? 100);
const WORKSPACES_PER_NAMESPACE = 10;
const CREATORS = 4;
const HEAP_SNAPSHOT = process.env.GATEHOUSE_BENCH_HEAP_SNAPSHOT === '1';
const COMPILED = process.env.GATEHOUSE_BENCH_OPERATOR === 'compiled';
const OPERATOR_NODE_FLAGS = (process.env.GATEHOUSE_BENCH_OPERATOR_NODE_OPTIONS ?? '').split(' ').filter((f) => f !== '');

function buildObjects(): GatehouseObject[] {
  const objects: GatehouseObject[] = [];
  for (let w = 0; w < WORKSPACES; w += 1) {
    const namespace = `bench-${Math.floor(w / WORKSPACES_PER_NAMESPACE)}`;
    const ws = `ws-${String(w % WORKSPACES_PER_NAMESPACE).padStart(2, '0')}`;
    objects.push({
      apiVersion: API_VERSION,
      kind: 'Workspace',
      metadata: { name: ws, namespace },
      spec: { workspaceId: `${namespace}-${ws}`, displayName: `Bench ${namespace} ${ws}` },
    });
    for (let m = 0; m < MEMBERS_PER_WORKSPACE; m += 1) {
      const name = `${ws}-m${String(m).padStart(4, '0')}`;
      objects.push({
        apiVersion: API_VERSION,
        kind: 'Member',
        metadata: { name, namespace },
        spec: { workspaceRef: { name: ws }, email: `${name}@example.com`, displayName: `Member ${name}`, role: m === 0 ? 'admin' : 'viewer' },
      });
    }
  }
  return objects;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** Creates every object with `CREATORS` parallel workers on one client. */
async function createAll(client: KubeClient, objects: readonly GatehouseObject[]): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < objects.length) {
      const object = objects[next++] as GatehouseObject;
      await client.create(gatehouseResource(object.kind), object.metadata.namespace, object);
    }
  };
  await Promise.all(Array.from({ length: CREATORS }, worker));
}

/** Objects of `kind` whose status is written at their generation with `phase`, read in pages. */
async function countConverged(client: KubeClient, kind: Kind, phase: string): Promise<number> {
  let n = 0;
  let continueToken: string | undefined;
  do {
    const page = await client.listPage<KubeObject>(gatehouseResource(kind), undefined, { limit: 2000, ...(continueToken ? { continue: continueToken } : {}) });
    for (const o of page.items) {
      const status = o.status as { phase?: string; observedGeneration?: number } | undefined;
      if (status?.observedGeneration === o.metadata.generation && status?.phase === phase) n += 1;
    }
    continueToken = page.continue;
  } while (continueToken);
  return n;
}

function procStatus(pid: number, field: 'VmHWM' | 'VmRSS'): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) / 1024 : Number.NaN;
}

function metricValue(text: string, name: string, labels?: string): number {
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

async function scrape(url: string): Promise<string> {
  const res = await fetch(url);
  return res.text();
}

async function main(): Promise<void> {
  const skip = envtestSkipReason();
  if (skip !== undefined) {
    process.stdout.write(`skipped: no real API server (${skip})\n`);
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-bench-envtest-'));
  const env = await Envtest.start();
  let operator: ChildProcess | undefined;
  try {
    const kubeConfig = env.kubeConfig();
    const client = new KubeClient(kubeConfig);
    const objects = buildObjects();
    const members = objects.filter((o) => o.kind === 'Member').length;
    const workspaces = objects.length - members;
    for (const ns of new Set(objects.map((o) => o.metadata.namespace as string))) await env.createNamespace(ns);

    // Baseline: the same objects created by a plain client.
    const createStart = performance.now();
    await createAll(client, objects);
    const createSeconds = (performance.now() - createStart) / 1000;
    const createRate = objects.length / createSeconds;

    // Convergence is followed by an informer per kind (list, then watch from
    // the list's resourceVersion: this API server refuses a watch without one).
    const converged = { Member: new Set<string>(), Workspace: new Set<string>() };
    const watchers: Array<Informer<KubeObject>> = [];
    for (const [kind, phase] of [['Member', 'Invited'], ['Workspace', 'Ready']] as const) {
      const informer = new Informer<KubeObject>({ client, resource: gatehouseResource(kind) });
      informer.on((event) => {
        const o = event.object;
        const status = o.status as { phase?: string; observedGeneration?: number } | undefined;
        const key = `${o.metadata.namespace}/${o.metadata.name}`;
        if (event.type !== 'delete' && status?.observedGeneration === o.metadata.generation && status?.phase === phase) converged[kind].add(key);
        else converged[kind].delete(key);
      });
      informer.start();
      await informer.waitForSync(120_000);
      watchers.push(informer);
    }

    // The operator, as its own process.
    const kubeconfigFile = join(dir, 'kubeconfig');
    env.writeKubeconfig(kubeconfigFile);
    const metricsPort = await freePort();
    const metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
    const entry = COMPILED ? [join(REPO, 'dist/bundle/gatehouse.js')] : ['--import', 'tsx', join(REPO, 'src/cli/main.ts')];
    if (COMPILED && !existsSync(entry[0] as string)) throw new Error('GATEHOUSE_BENCH_OPERATOR=compiled needs the built CLI: run npm run build first');
    const nodeArgs = [...OPERATOR_NODE_FLAGS, ...(HEAP_SNAPSHOT ? ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${dir}`] : [])];
    const started = performance.now();
    operator = spawn(
      process.execPath,
      [...nodeArgs, ...entry, 'run', '--kubeconfig', kubeconfigFile, '--store', `sqlite:${join(dir, 'identity.db')}`,
        '--no-leader-elect', '--probe-listen', '', '--metrics-listen', `127.0.0.1:${metricsPort}`, '--log-level', 'warn'],
      { cwd: REPO, stdio: ['ignore', 'ignore', 'inherit'] },
    );
    const pid = operator.pid as number;
    let exited = false;
    operator.on('exit', () => (exited = true));

    // Convergence through one watch per kind (listing 10,000 objects every
    // second would load the API server the operator shares); memory sampled
    // from the operator's /metrics meanwhile; the end confirmed by a list.
    let peakHeapUsed = 0;
    let peakExternal = 0;
    const deadline = Date.now() + 3_600_000;
    for (;;) {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      if (exited) throw new Error('the operator process exited before it converged');
      try {
        const text = await scrape(metricsUrl);
        peakHeapUsed = Math.max(peakHeapUsed, metricValue(text, 'gatehouse_nodejs_heap_size_used_bytes') / 2 ** 20);
        peakExternal = Math.max(peakExternal, metricValue(text, 'gatehouse_nodejs_external_memory_bytes') / 2 ** 20);
      } catch {
        // Not listening yet.
      }
      if (converged.Member.size === members && converged.Workspace.size === workspaces) {
        if ((await countConverged(client, 'Member', 'Invited')) === members && (await countConverged(client, 'Workspace', 'Ready')) === workspaces) break;
      }
      if (Date.now() > deadline) throw new Error('the operator did not converge within an hour');
    }
    const convergedSeconds = (performance.now() - started) / 1000;
    const rate = objects.length / convergedSeconds;
    await Promise.all(watchers.map((w) => w.stop()));
    const peakRss = procStatus(pid, 'VmHWM');
    const rssAfter = procStatus(pid, 'VmRSS');
    // Events are sent after the status write; give them a moment before counting writes.
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const text = await scrape(metricsUrl);
    const writes = metricValue(text, 'gatehouse_api_writes_total');
    const eventWrites = metricValue(text, 'gatehouse_api_writes_total', 'resource="events"');
    const statusWrites = metricValue(text, 'gatehouse_api_writes_total', '/status"');
    const objectWrites = writes - eventWrites - statusWrites;
    let snapshot = '';
    if (HEAP_SNAPSHOT) {
      process.kill(pid, 'SIGUSR2');
      const until = Date.now() + 300_000;
      while (Date.now() < until && !readdirSync(dir).some((f) => f.endsWith('.heapsnapshot'))) await new Promise((resolve) => setTimeout(resolve, 1000));
      // Written once its size stops changing.
      await new Promise((resolve) => setTimeout(resolve, 15_000));
      snapshot = readdirSync(dir).find((f) => f.endsWith('.heapsnapshot')) ?? '';
      if (snapshot !== '') {
        const kept = join(tmpdir(), `gatehouse-operator-${objects.length}.heapsnapshot`);
        rmSync(kept, { force: true });
        copyFileSync(join(dir, snapshot), kept);
        snapshot = kept;
      }
    }

    report([
      ['objects (Workspaces + Members)', `${objects.length} (${workspaces} + ${members})`],
      ['operator runs', `${COMPILED ? 'dist/bundle (compiled)' : 'src under tsx'}${OPERATOR_NODE_FLAGS.length > 0 ? ` with ${OPERATOR_NODE_FLAGS.join(' ')}` : ''}`],
      [`baseline: ${CREATORS} parallel creators, objects/s`, createRate],
      ['operator cold start (process start to every status written), s', convergedSeconds],
      ['operator cold start, objects/s', rate],
      ['operator / baseline (goal >= 0.75)', rate / createRate],
      ['operator peak RSS, MiB (VmHWM)', peakRss],
      ['operator RSS after convergence, MiB', rssAfter],
      ['operator peak heap used (sampled each 1 s), MiB', peakHeapUsed],
      ['operator peak external memory (sampled), MiB', peakExternal],
      ['API writes per object (all)', writes / objects.length],
      ['  status writes per object', statusWrites / objects.length],
      ['  object writes (finalizers) per object', objectWrites / objects.length],
      ['  events per object', eventWrites / objects.length],
      ...(HEAP_SNAPSHOT ? [['heap snapshot', snapshot || 'not written'] as [string, string]] : []),
    ]);
  } finally {
    if (operator?.pid !== undefined && operator.exitCode === null) {
      operator.kill('SIGTERM');
      await new Promise((resolve) => {
        const timer = setTimeout(() => {
          operator?.kill('SIGKILL');
          resolve(undefined);
        }, 10_000);
        operator?.once('exit', () => {
          clearTimeout(timer);
          resolve(undefined);
        });
      });
    }
    await env.stop();
    if (existsSync(dir)) rmSync(dir, { recursive: true, force: true });
  }
}

await main();
