// Operator cold start on a real kube-apiserver (envtest): `gatehouse run` as
// its own process, a SQLite identity store, and the objects created before it
// starts. Measured in the same run, against the same API server:
//   - baseline: how fast 4 parallel creators (the real client-node) create
//     the objects (objects/s);
//   - the operator from process start until every object's status is written
//     at its generation (objects/s, and the ratio to the baseline; goal >= 0.75x);
//   - the peak RSS (VmHWM from /proc) of every Gatehouse process, and the
//     operator's heap and external memory, sampled from its /metrics;
//   - the operator's API writes per object, from its gatehouse_api_writes_total;
//   - then one change at a time: N Members' roles changed with merge patches
//     (as `kubectl patch`), each timed until the store's SQLite file has it
//     (read-only, polled): p50 and p99.
// Modes (GATEHOUSE_BENCH_MODES, default "plain,webhook"), each on a fresh API server:
//   - plain: no webhook; every object costs a finalizer patch and a status write;
//   - webhook: a second `gatehouse run` serves the admission webhook while the
//     objects are created (a follower: the Lease is held by someone else, so it
//     never reconciles); the mutating webhook sets the finalizer at creation and
//     the operator's only write per object is its status. The baseline creators
//     go through the webhook too.
// Sizes: 10,000 and 100,000 Members (100 and 1,000 Workspaces of 100), each in
// every mode; GATEHOUSE_BENCH_WORKSPACES x GATEHOUSE_BENCH_MEMBERS (per
// Workspace) runs one size instead. GATEHOUSE_BENCH_CHANGES (default 100; 0
// skips the changes). Needs KUBEBUILDER_ASSETS (or .cache/envtest); says
// skipped without it.
// Where the time and memory go, printed after each run's figures:
//   - the API server's CPU during the cold start, by kind of work, from its own
//     pprof CPU profiles taken back to back while the operator converges
//     (GATEHOUSE_BENCH_API_SERVER_PROFILE=0 skips them;
//     GATEHOUSE_BENCH_API_SERVER_PROFILE_DIR=DIR keeps them for `go tool pprof`);
//   - a heap snapshot of the operator after convergence (after its peak RSS is
//     read), summarised (GATEHOUSE_BENCH_HEAP_SNAPSHOT=0 skips it).
// GATEHOUSE_BENCH_CLI=tsx runs the
// sources instead of the built CLI. Every `gatehouse run` gets the node options the chart sets
// (`nodeOptions` in charts/gatehouse/values.yaml), as a deployment runs it;
// GATEHOUSE_BENCH_OPERATOR_NODE_OPTIONS replaces them (e.g. "" for V8's defaults); GATEHOUSE_BENCH_OPERATOR_ARGS
// adds `gatehouse run` flags (e.g. --workers 8).
import type { ChildProcess } from 'node:child_process';
import { closeSync, copyFileSync, existsSync, fstatSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, readSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { DatabaseSync } from 'node:sqlite';
import { CustomObjectsApi } from '@kubernetes/client-node';
import { parse as parseYaml } from 'yaml';
import { CHART_DIRECTORY } from '../src/crd/files.js';
import { KubeClient, LEASE_RESOURCE, gatehouseResource, type KubeObject } from '../src/kube/client.js';
import { DEFAULT_LEASE_NAME } from '../src/kube/leader-election.js';
import { STORE_FINALIZER, type GatehouseObject, type Kind } from '../src/model/index.js';
import { errorMessage } from '../src/util/errors.js';
import { Envtest, envtestSkipReason } from '../test/support/envtest.js';
import { freePort } from '../test/support/postgres.js';
import { buildDeclarations, countKinds, sizeFromEnv, type BenchSize } from './declarations.js';
import { formatHeapSummary, summarizeHeapSnapshot } from './heap-snapshot-summary.js';
import { CLI_BUILD, loadAverage, metricValue, prepareGatehouse, procCpuSeconds, procMemory, REPO, scrape, spawnGatehouse, stopProcess } from './processes.js';
import { inParallel } from './parallel.js';
import { decodeGoCpuProfile, summarizeGoCpuProfiles, type GoCpuProfile } from './pprof-summary.js';
import { percentile, report } from './report.js';

const SIZES: readonly BenchSize[] =
  process.env.GATEHOUSE_BENCH_WORKSPACES || process.env.GATEHOUSE_BENCH_MEMBERS
    ? [sizeFromEnv({ workspaces: 100, membersPerWorkspace: 100 })]
    : [
        { workspaces: 100, membersPerWorkspace: 100 },
        { workspaces: 1000, membersPerWorkspace: 100 },
      ];
const MODES = (process.env.GATEHOUSE_BENCH_MODES ?? 'plain,webhook').split(',').filter((m) => m !== '');
const CHANGES = Number(process.env.GATEHOUSE_BENCH_CHANGES ?? 100);
const CREATORS = 4;
const HEAP_SNAPSHOT = process.env.GATEHOUSE_BENCH_HEAP_SNAPSHOT !== '0';
const API_SERVER_PROFILE = process.env.GATEHOUSE_BENCH_API_SERVER_PROFILE !== '0';
/** Seconds per API server CPU profile; they are taken back to back through the cold start. */
const PROFILE_SECONDS = 5;
/** Where to keep the raw profiles too (for `go tool pprof`); each run overwrites the last. */
const PROFILE_DIR = process.env.GATEHOUSE_BENCH_API_SERVER_PROFILE_DIR || undefined;
const CHART_NODE_OPTIONS = String((parseYaml(readFileSync(join(REPO, CHART_DIRECTORY, 'values.yaml'), 'utf8')) as { nodeOptions?: string }).nodeOptions ?? '');
const OPERATOR_NODE_FLAGS = (process.env.GATEHOUSE_BENCH_OPERATOR_NODE_OPTIONS ?? CHART_NODE_OPTIONS).split(' ').filter((f) => f !== '');
/** More `gatehouse run` flags, e.g. "--workers 8". */
const OPERATOR_ARGS = (process.env.GATEHOUSE_BENCH_OPERATOR_ARGS ?? '').split(' ').filter((f) => f !== '');
const LEASE_NAMESPACE = 'gatehouse-system';
const IDLE_SECONDS = 30;

type Mode = 'plain' | 'webhook';
type Row = [string, string | number];

/** The last bytes of a file. */
function fileEnd(path: string, bytes = 64): string {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const buffer = Buffer.alloc(Math.min(bytes, size));
    readSync(fd, buffer, 0, buffer.length, size - buffer.length);
    return buffer.toString('utf8');
  } finally {
    closeSync(fd);
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Creates every object with `CREATORS` parallel workers on one client. */
async function createAll(client: KubeClient, objects: readonly GatehouseObject[]): Promise<void> {
  await inParallel(objects.length, CREATORS, (i) => {
    const object = objects[i] as GatehouseObject;
    return client.create(gatehouseResource(object.kind), object.metadata.namespace, object);
  });
}

/** One page, tried again a few times: a loaded API server can take longer than one call may (100,000 objects at load 20 did). */
async function listPageRetrying(client: KubeClient, kind: Kind, continueToken: string | undefined) {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await client.listPage<KubeObject>(gatehouseResource(kind), undefined, { limit: 500, ...(continueToken ? { continue: continueToken } : {}) });
    } catch (err) {
      if (attempt >= 5) throw err;
      await sleep(2000 * attempt);
    }
  }
}

/** Objects of `kind` whose status is written at their generation with `phase`, read in pages. */
async function countConverged(client: KubeClient, kind: Kind, phase: string): Promise<number> {
  let n = 0;
  let continueToken: string | undefined;
  do {
    const page = await listPageRetrying(client, kind, continueToken);
    for (const o of page.items) {
      const status = o.status as { phase?: string; observedGeneration?: number } | undefined;
      if (status?.observedGeneration === o.metadata.generation && status?.phase === phase) n += 1;
    }
    continueToken = page.continue;
  } while (continueToken);
  return n;
}

/**
 * A `gatehouse run` that serves the admission webhook and never reconciles:
 * the Lease is held for a day by a holder that does not exist. Resolves once
 * the API server applies its mutating webhook (a dry-run create comes back
 * with the finalizer).
 */
async function startWebhookReplica(env: Envtest, client: KubeClient, kubeconfigFile: string, dir: string, objects: readonly GatehouseObject[]): Promise<ChildProcess> {
  await env.createNamespace(LEASE_NAMESPACE);
  const now = new Date().toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
  await client.create(LEASE_RESOURCE, LEASE_NAMESPACE, {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: { name: DEFAULT_LEASE_NAME, namespace: LEASE_NAMESPACE },
    spec: { holderIdentity: 'bench-holder-elsewhere', leaseDurationSeconds: 86_400, acquireTime: now, renewTime: now, leaseTransitions: 0 },
  });
  const port = await freePort();
  const replica = spawnGatehouse([
    'run', '--kubeconfig', kubeconfigFile, '--store', `sqlite:${join(dir, 'replica.db')}`, '--lease-namespace', LEASE_NAMESPACE,
    '--webhook-url', `https://127.0.0.1:${port}`, '--webhook-listen', `127.0.0.1:${port}`, '--webhook-config-name', 'gatehouse-bench',
    '--probe-listen', '', '--metrics-listen', '', '--log-level', 'warn',
  ], { nodeArgs: OPERATOR_NODE_FLAGS });
  const probe = objects.find((o) => o.kind === 'Workspace') as GatehouseObject;
  const api = env.kubeConfig().makeApiClient(CustomObjectsApi);
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (replica.exitCode !== null) throw new Error('the webhook replica exited before it served');
    try {
      const answer = (await api.createNamespacedCustomObject({
        group: 'gatehouse.dev', version: 'v1alpha1', plural: 'workspaces', namespace: probe.metadata.namespace as string,
        body: { ...probe, metadata: { ...probe.metadata, name: 'webhook-probe' } }, dryRun: 'All',
      })) as KubeObject;
      if (answer.metadata.finalizers?.includes(STORE_FINALIZER)) return replica;
    } catch {
      // Registered but not serving yet (it fails closed): try again.
    }
    if (Date.now() > deadline) throw new Error('the API server did not call the mutating webhook within 2 minutes');
    await sleep(500);
  }
}

/** Waits (untimed) until the webhook's cache has `member`'s Workspace: a dry-run create of it is accepted. */
async function webhookKnows(env: Envtest, member: GatehouseObject): Promise<void> {
  const api = env.kubeConfig().makeApiClient(CustomObjectsApi);
  const deadline = Date.now() + 300_000;
  for (;;) {
    try {
      await api.createNamespacedCustomObject({ group: 'gatehouse.dev', version: 'v1alpha1', plural: 'members', namespace: member.metadata.namespace as string, body: member, dryRun: 'All' });
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await sleep(500);
    }
  }
}

/** CPU profiles of the API server taken back to back until `stop()`, which waits for the one under way. */
function profileApiServer(env: Envtest): { stop: () => Promise<GoCpuProfile[]> } {
  const profiles: GoCpuProfile[] = [];
  if (PROFILE_DIR !== undefined) mkdirSync(PROFILE_DIR, { recursive: true });
  let stopping = false;
  const loop = (async () => {
    while (!stopping) {
      try {
        const raw = await env.cpuProfile(PROFILE_SECONDS);
        if (PROFILE_DIR !== undefined) writeFileSync(join(PROFILE_DIR, `kube-apiserver-${String(profiles.length).padStart(3, '0')}.pb.gz`), raw);
        profiles.push(decodeGoCpuProfile(raw));
      } catch (err) {
        process.stderr.write(`the API server's CPU profile failed, so none is summarised: ${errorMessage(err)}\n`);
        profiles.length = 0;
        return;
      }
    }
  })();
  return {
    stop: async () => {
      stopping = true;
      await loop;
      return profiles;
    },
  };
}

/** Changes N Members' role one at a time and times each until the store's file has it. */
async function changesToStore(client: KubeClient, storeFile: string, objects: readonly GatehouseObject[]): Promise<number[]> {
  const db = new DatabaseSync(storeFile, { readOnly: true });
  try {
    const roleOf = db.prepare("SELECT role_id AS role FROM members WHERE source_kind = 'Member' AND source_namespace = ? AND source_name = ?");
    const viewers = objects.filter((o) => o.kind === 'Member' && (o.spec as { role?: string }).role === 'viewer');
    const latencies: number[] = [];
    for (let i = 0; i < Math.min(CHANGES, viewers.length); i += 1) {
      const target = viewers[(i * 7919) % viewers.length] as GatehouseObject;
      const { namespace, name } = target.metadata as { namespace: string; name: string };
      const before = (roleOf.get(namespace, name) as { role?: string } | undefined)?.role;
      const sent = performance.now();
      await client.patch(gatehouseResource('Member'), namespace, name, { spec: { role: 'editor' } }, { type: 'merge' });
      for (;;) {
        const now = (roleOf.get(namespace, name) as { role?: string } | undefined)?.role;
        if (now !== before) break;
        if (performance.now() - sent > 60_000) throw new Error(`the store did not take Member ${namespace}/${name}'s role change within a minute`);
        await sleep(2);
      }
      latencies.push(performance.now() - sent);
    }
    return latencies;
  } finally {
    db.close();
  }
}

async function run(mode: Mode, size: BenchSize): Promise<{ rows: Row[]; heapSummary: string; apiServerSummary: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-bench-envtest-'));
  const env = await Envtest.start();
  let operator: ChildProcess | undefined;
  let replica: ChildProcess | undefined;
  try {
    const kubeConfig = env.kubeConfig();
    const client = new KubeClient(kubeConfig);
    const kubeconfigFile = join(dir, 'kubeconfig');
    env.writeKubeconfig(kubeconfigFile);
    const objects = buildDeclarations(size);
    const { workspaces, members } = countKinds(objects);
    for (const ns of new Set(objects.map((o) => o.metadata.namespace as string))) await env.createNamespace(ns);
    if (mode === 'webhook') replica = await startWebhookReplica(env, client, kubeconfigFile, dir, objects);

    // Baseline: the same objects created by a plain client (through the webhook in that mode),
    // Workspaces first: the validating webhook refuses a Member whose Workspace it has not seen yet.
    // The API server's and etcd's CPU, to show what bounds each phase on a machine they share.
    const apiServerCpu = () => (env.pids.apiServer === undefined ? 0 : procCpuSeconds(env.pids.apiServer));
    const etcdCpu = () => (env.pids.etcd === undefined ? 0 : procCpuSeconds(env.pids.etcd));
    const serverCpu = () => apiServerCpu() + etcdCpu();
    const createCpuFrom = serverCpu();
    const workspaceStart = performance.now();
    await createAll(client, objects.filter((o) => o.kind === 'Workspace'));
    let createSeconds = (performance.now() - workspaceStart) / 1000;
    if (replica !== undefined) await webhookKnows(env, objects.filter((o) => o.kind === 'Member').at(-1) as GatehouseObject);
    const memberStart = performance.now();
    await createAll(client, objects.filter((o) => o.kind === 'Member'));
    createSeconds += (performance.now() - memberStart) / 1000;
    const createRate = objects.length / createSeconds;
    const createServerCpu = (serverCpu() - createCpuFrom) / createSeconds;

    // The operator, as its own process.
    const metricsPort = await freePort();
    const metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
    const storeFile = join(dir, 'identity.db');
    const profiler = API_SERVER_PROFILE ? profileApiServer(env) : undefined;
    const started = performance.now();
    const coldStartCpuFrom = { apiServer: apiServerCpu(), etcd: etcdCpu() };
    operator = spawnGatehouse(
      ['run', '--kubeconfig', kubeconfigFile, '--store', `sqlite:${storeFile}`, '--no-leader-elect', '--probe-listen', '', '--metrics-listen', `127.0.0.1:${metricsPort}`, '--log-level', 'warn', ...OPERATOR_ARGS],
      { nodeArgs: [...OPERATOR_NODE_FLAGS, ...(HEAP_SNAPSHOT ? ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${dir}`] : [])] },
    );
    const pid = operator.pid as number;
    let exited = false;
    operator.on('exit', () => (exited = true));

    // Convergence: once the operator's own counters show a status write for
    // every object, a paged list confirms each is written at its generation.
    // The bench keeps no watch of its own open meanwhile: the API server would
    // send it every status write, work the creators' phase did not have.
    // Memory is sampled from the same /metrics.
    let peakHeapUsed = 0;
    let peakExternal = 0;
    let load = loadAverage();
    // When the confirming list began, with the servers' CPU then: the list's own cost is not the cold start's.
    let converged = { at: 0, apiServerCpu: 0, etcdCpu: 0 };
    let refutedAt = { writes: -1, time: 0 };
    const deadline = Date.now() + 4 * 3_600_000;
    for (let tick = 0; ; tick += 1) {
      await sleep(1000);
      if (exited) throw new Error('the operator process exited before it converged');
      if (tick % 30 === 0) load = loadAverage();
      let text: string;
      try {
        text = await scrape(metricsUrl);
      } catch {
        continue; // Not listening yet.
      }
      peakHeapUsed = Math.max(peakHeapUsed, metricValue(text, 'gatehouse_nodejs_heap_size_used_bytes') / 2 ** 20);
      peakExternal = Math.max(peakExternal, metricValue(text, 'gatehouse_nodejs_external_memory_bytes') / 2 ** 20);
      const memberStatusWrites = metricValue(text, 'gatehouse_api_writes_total', 'resource="members/status"');
      const workspaceStatusWrites = metricValue(text, 'gatehouse_api_writes_total', 'resource="workspaces/status"');
      // After a list that found objects still unwritten, wait for more writes (counted as they are
      // sent, so the last may still be on its way) or 5 s before listing again.
      const writes = memberStatusWrites + workspaceStatusWrites;
      if (memberStatusWrites >= members && workspaceStatusWrites >= workspaces && (writes > refutedAt.writes || performance.now() - refutedAt.time > 5000)) {
        const listed = { at: performance.now(), apiServerCpu: apiServerCpu(), etcdCpu: etcdCpu() };
        if ((await countConverged(client, 'Member', 'Invited')) === members && (await countConverged(client, 'Workspace', 'Ready')) === workspaces) {
          converged = listed;
          break;
        }
        refutedAt = { writes, time: performance.now() };
      }
      if (Date.now() > deadline) throw new Error('the operator did not converge within four hours');
    }
    const convergedSeconds = (converged.at - started) / 1000;
    const coldStartApiServerCpu = (converged.apiServerCpu - coldStartCpuFrom.apiServer) / convergedSeconds;
    const coldStartEtcdCpu = (converged.etcdCpu - coldStartCpuFrom.etcd) / convergedSeconds;
    const coldStartServerCpu = coldStartApiServerCpu + coldStartEtcdCpu;
    const apiServerProfiles = (await profiler?.stop()) ?? [];
    const apiServerSummary = apiServerProfiles.length > 0 ? summarizeGoCpuProfiles(apiServerProfiles) : '';
    const rate = objects.length / convergedSeconds;
    const peakRss = procMemory(pid, 'VmHWM');
    const rssAfter = procMemory(pid, 'VmRSS');
    // Events are sent after the status write; give them a moment before counting writes.
    await sleep(3000);
    const text = await scrape(metricsUrl);
    const writes = metricValue(text, 'gatehouse_api_writes_total');
    const eventWrites = metricValue(text, 'gatehouse_api_writes_total', 'resource="events"');
    const statusWrites = metricValue(text, 'gatehouse_api_writes_total', '/status"');
    const objectWrites = writes - eventWrites - statusWrites;
    const cpu = await scrape(metricsUrl).then((t) => metricValue(t, 'gatehouse_process_cpu_seconds_total'));
    // Where the workers' time went: store syncs (one per batch; SQLite takes one writer at a time) and whole batches.
    const storeSyncs = metricValue(text, 'gatehouse_store_operation_duration_seconds_count', 'operation="sync"');
    const storeSyncSeconds = metricValue(text, 'gatehouse_store_operation_duration_seconds_sum', 'operation="sync"');
    const batchKeySeconds = metricValue(text, 'gatehouse_reconcile_duration_seconds_sum') / Math.max(1, metricValue(text, 'gatehouse_reconcile_duration_seconds_count'));

    const latencies = mode === 'plain' && CHANGES > 0 ? await changesToStore(client, storeFile, objects) : [];
    // Converged and nothing changing: what the operator costs at rest (resyncs, store poll, watches).
    const idleFrom = { cpu: metricValue(await scrape(metricsUrl), 'gatehouse_process_cpu_seconds_total'), at: performance.now() };
    await sleep(IDLE_SECONDS * 1000);
    const idleMillicores = ((metricValue(await scrape(metricsUrl), 'gatehouse_process_cpu_seconds_total') - idleFrom.cpu) / ((performance.now() - idleFrom.at) / 1000)) * 1000;

    let snapshot = '';
    let heapSummary = '';
    if (HEAP_SNAPSHOT) {
      process.kill(pid, 'SIGUSR2');
      const until = Date.now() + 300_000;
      let written = '';
      // Complete once the JSON is closed (V8 writes it piece by piece, for minutes at 100,000 Members).
      while (Date.now() < until) {
        written = readdirSync(dir).find((f) => f.endsWith('.heapsnapshot')) ?? '';
        if (written !== '' && fileEnd(join(dir, written)).trimEnd().endsWith(']}')) break;
        await sleep(2000);
      }
      if (written !== '') {
        snapshot = join(tmpdir(), `gatehouse-operator-${mode}-${objects.length}.heapsnapshot`);
        rmSync(snapshot, { force: true });
        copyFileSync(join(dir, written), snapshot);
        try {
          heapSummary = formatHeapSummary(summarizeHeapSnapshot(JSON.parse(readFileSync(snapshot, 'utf8'))), 20, 10);
        } catch (err) {
          // Past V8's longest string (about 512 MiB) the file cannot be read here; Chrome DevTools can.
          heapSummary = `not summarised here (${errorMessage(err)}); open ${snapshot} in Chrome DevTools`;
        }
      }
    }

    const rows: Row[] = [
      ['objects (Workspaces + Members)', `${objects.length} (${workspaces} + ${members})`],
      ['gatehouse run', `${CLI_BUILD}${OPERATOR_NODE_FLAGS.length > 0 ? ` with ${OPERATOR_NODE_FLAGS.join(' ')}` : ''}${OPERATOR_ARGS.length > 0 ? `, ${OPERATOR_ARGS.join(' ')}` : ''}`],
      ['load average during the cold start (1, 5, 15 min)', load],
      [`baseline: ${CREATORS} parallel creators${mode === 'webhook' ? ' (through the webhook)' : ''}, objects/s`, createRate],
      ['operator cold start (process start to every status written), s', convergedSeconds],
      ['operator cold start, objects/s', rate],
      [`operator / baseline (goal >= 0.75): ${rate / createRate >= 0.75 ? 'met' : 'NOT met'}`, rate / createRate],
      [`operator peak RSS, MiB (VmHWM; goal < ${members > 50_000 ? 256 : 150}): ${peakRss < (members > 50_000 ? 256 : 150) ? 'met' : 'NOT met'}`, peakRss],
      ...(replica?.pid !== undefined ? [['webhook replica (follower) peak RSS, MiB (VmHWM)', procMemory(replica.pid, 'VmHWM')] as Row] : []),
      ['operator RSS after convergence, MiB', rssAfter],
      ['operator peak heap used (sampled each 1 s), MiB', peakHeapUsed],
      ['operator peak external memory (sampled), MiB', peakExternal],
      ['operator CPU time for the cold start, s (user + system)', cpu],
      ['store syncs: batches, s in all (share of the cold start), mean ms', `${storeSyncs}, ${storeSyncSeconds.toFixed(1)} (${Math.round((100 * storeSyncSeconds) / convergedSeconds)}%), ${((1000 * storeSyncSeconds) / Math.max(1, storeSyncs)).toFixed(1)}`],
      ['reconcile batch duration, mean over objects, ms', batchKeySeconds * 1000],
      ['API server + etcd CPU, cores busy: while the creators ran / during the cold start', `${createServerCpu.toFixed(2)} / ${coldStartServerCpu.toFixed(2)} (of ${availableParallelism()})`],
      ['  during the cold start: API server / etcd, cores', `${coldStartApiServerCpu.toFixed(2)} / ${coldStartEtcdCpu.toFixed(2)}`],
      ['  operator, cores (CPU time / cold start)', cpu / convergedSeconds],
      [`operator CPU at rest after convergence (${IDLE_SECONDS} s), millicores`, idleMillicores],
      [`API writes per object (all; goal ${mode === 'webhook' ? '1' : '2'} + events)`, writes / objects.length],
      ['  status writes per object', statusWrites / objects.length],
      ['  object writes (finalizers) per object', objectWrites / objects.length],
      ['  events per object', eventWrites / objects.length],
      ...(latencies.length > 0
        ? ([
            [`one role change -> store (${latencies.length} changes, one at a time): p50, ms`, percentile(latencies, 50)],
            ['one role change -> store: p99, ms', percentile(latencies, 99)],
            ['one role change -> store: max, ms', Math.max(...latencies)],
          ] as Row[])
        : []),
      ...(HEAP_SNAPSHOT ? [['heap snapshot', snapshot || 'not written'] as Row] : []),
    ];
    return { rows, heapSummary, apiServerSummary };
  } finally {
    await stopProcess(operator);
    await stopProcess(replica);
    await env.stop();
    if (existsSync(dir)) rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const skip = envtestSkipReason();
  if (skip !== undefined) {
    process.stdout.write(`skipped: no real API server (${skip})\n`);
    return;
  }
  prepareGatehouse();
  for (const mode of MODES) if (mode !== 'plain' && mode !== 'webhook') throw new Error(`GATEHOUSE_BENCH_MODES: "${mode}" is not plain or webhook`);
  for (const size of SIZES) {
    for (const mode of MODES as Mode[]) {
      const label = `${(size.workspaces * size.membersPerWorkspace).toLocaleString('en')} Members, ${mode}`;
      process.stdout.write(`\n### ${label}\n`);
      const { rows, heapSummary, apiServerSummary } = await run(mode, size);
      report(rows);
      if (apiServerSummary !== '') process.stdout.write(`\nthe API server's CPU during the cold start (${label}; pprof, ${PROFILE_SECONDS} s profiles back to back):\n${apiServerSummary}\n`);
      if (heapSummary !== '') process.stdout.write(`\noperator heap after convergence (${label}):\n${heapSummary}\n`);
    }
  }
}

await main();
