// Operator benchmark: the real operator, the real engine and a SQLite identity
// store, against the fake API server running in a child process (so the API
// server's work does not share the operator's event loop).
//   1. cold start: 100 Workspaces with 100 Members each (10,000 Members) exist
//      before the operator starts; time until every object is reconciled and
//      its status written. Goal: >= 150 objects/s.
//   2. one changed Member until its change is committed to the store, one at
//      a time, 200 times. Goal: p99 < 200 ms.
//   3. temporary access ending on the system clock: how late after expiresAt
//      the store says Expired. Goal: p99 <= 1 s.
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { KubeConfig } from '@kubernetes/client-node';
import { KubeClient, gatehouseResource } from '../src/kube/client.js';
import { StoreEngine } from '../src/kube/controller/engine-adapter.js';
import type { EngineSyncResult, ObjectState, SyncScope } from '../src/kube/controller/engine-port.js';
import { Operator } from '../src/kube/operator.js';
import { DelegatingEngine } from '../src/kube/testing/delegating-engine.js';
import { getDefaultProfile, type GatehouseObject, type ObjectRef } from '../src/model/index.js';
import type { ObjectIndex } from '../src/rules/types.js';
import { openStore } from '../src/store/index.js';
import { silentLogger } from '../src/util/log.js';
import { buildDeclarations, countKinds, workspaceName } from './declarations.js';
import { peakRssMiB, percentile, report } from './report.js';

const API_VERSION = 'gatehouse.dev/v1alpha1';
const CHANGES = 200;
const EXPIRING = 50;

// ---- the API server process ----

interface Request {
  id: number;
  cmd: 'info' | 'seed' | 'count';
  objects?: unknown[];
  kind?: string;
  phase?: string;
}

async function serveApiServer(): Promise<void> {
  const { FakeApiServer } = await import('../test/support/fake-apiserver/index.js');
  const fake = await FakeApiServer.start();
  process.on('message', (message: Request) => {
    const reply = (body: Record<string, unknown>) => process.send?.({ id: message.id, ...body });
    switch (message.cmd) {
      case 'info':
        reply({ url: fake.url, token: fake.token });
        break;
      case 'seed':
        for (const object of message.objects ?? []) fake.seed(object as { apiVersion: string; kind: string });
        reply({ ok: true });
        break;
      case 'count':
        reply({
          n: fake.count(API_VERSION, message.kind as string, (o) => {
            const status = o.status as { phase?: string; observedGeneration?: number } | undefined;
            return status?.observedGeneration === o.metadata.generation && (message.phase === undefined || status?.phase === message.phase);
          }),
        });
        break;
    }
  });
  process.send?.({ id: 0, ready: true });
}

class ApiServerProcess {
  #seq = 0;
  readonly #waiting = new Map<number, (body: Record<string, unknown>) => void>();

  private constructor(readonly child: ChildProcess) {
    child.on('message', (message: { id: number } & Record<string, unknown>) => {
      this.#waiting.get(message.id)?.(message);
      this.#waiting.delete(message.id);
    });
  }

  static async start(): Promise<ApiServerProcess> {
    const child = fork(fileURLToPath(import.meta.url), [], {
      execArgv: process.execArgv,
      env: { ...process.env, GATEHOUSE_BENCH_ROLE: 'apiserver' },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const server = new ApiServerProcess(child);
    await new Promise<void>((resolve) => server.#waiting.set(0, () => resolve()));
    return server;
  }

  call(cmd: Request['cmd'], body: Omit<Request, 'id' | 'cmd'> = {}): Promise<Record<string, unknown>> {
    const id = ++this.#seq;
    return new Promise((resolve) => {
      this.#waiting.set(id, resolve);
      this.child.send({ id, cmd, ...body });
    });
  }

  stop(): void {
    this.child.kill();
  }
}

// ---- the operator side ----

interface SyncObservation {
  refs: string[];
  generations: Map<string, number>;
  states: ObjectState[];
  doneAt: number;
}

/** The real engine, watched: every completed sync is reported. */
class ObservedEngine extends DelegatingEngine {
  listeners: Array<(observation: SyncObservation) => void> = [];

  override async sync(desired: readonly GatehouseObject[], scope: SyncScope, at: Date, index?: ObjectIndex): Promise<EngineSyncResult> {
    const result = await super.sync(desired, scope, at, index);
    if (scope.type === 'objects' && this.listeners.length > 0) {
      const keys = scope.refs.map(key);
      const generations = new Map<string, number>();
      for (const object of desired) {
        const k = `${object.kind}/${object.metadata.namespace}/${object.metadata.name}`;
        if (keys.includes(k)) generations.set(k, object.metadata.generation ?? 0);
      }
      const observation = { refs: keys, generations, states: result.states, doneAt: performance.now() };
      for (const listener of this.listeners) listener(observation);
    }
    return result;
  }
}

function key(ref: ObjectRef): string {
  return `${ref.kind}/${ref.namespace}/${ref.name}`;
}

async function until(check: () => Promise<boolean>, what: string, timeoutMs: number, intervalMs = 250): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-bench-operator-'));
  const api = await ApiServerProcess.start();
  let operator: Operator | undefined;
  try {
    const info = (await api.call('info')) as { url: string; token: string };
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromOptions({
      clusters: [{ name: 'bench', server: info.url, skipTLSVerify: true }],
      users: [{ name: 'bench', token: info.token }],
      contexts: [{ name: 'bench', cluster: 'bench', user: 'bench' }],
      currentContext: 'bench',
    });
    const objects = buildDeclarations({ workspaces: 100, membersPerWorkspace: 100 });
    for (let i = 0; i < objects.length; i += 1000) await api.call('seed', { objects: objects.slice(i, i + 1000) });
    const { workspaces, members } = countKinds(objects);

    const profile = getDefaultProfile();
    const store = await openStore(`sqlite:${join(dir, 'identity.db')}`);
    const engine = new ObservedEngine(new StoreEngine(store, profile));

    // 1. Cold start.
    const started = performance.now();
    operator = await Operator.start({ kubeConfig, engine, profile, leaderElection: false, log: silentLogger() });
    await operator.controller.waitForSync(120_000);
    const synced = performance.now();
    await until(
      async () => {
        const done = ((await api.call('count', { kind: 'Member', phase: 'Invited' })).n as number) === members;
        return done && ((await api.call('count', { kind: 'Workspace', phase: 'Ready' })).n as number) === workspaces;
      },
      'every object reconciled',
      600_000,
      100,
    );
    const converged = performance.now();
    const coldSeconds = (converged - started) / 1000;

    // 2. One changed object until the store has it.
    const client = new KubeClient(kubeConfig);
    const latencies: number[] = [];
    const memberObjects = objects.filter((o) => o.kind === 'Member');
    for (let i = 0; i < CHANGES; i += 1) {
      // Each change hits a different Member, so its new generation is 2.
      const target = memberObjects[(i * 7919) % memberObjects.length] as GatehouseObject;
      const ref = `Member/${target.metadata.namespace}/${target.metadata.name}`;
      const committed = new Promise<number>((resolve) => {
        const listener = (o: SyncObservation) => {
          if (o.refs.includes(ref) && (o.generations.get(ref) ?? 0) >= 2) {
            engine.listeners = engine.listeners.filter((l) => l !== listener);
            resolve(o.doneAt);
          }
        };
        engine.listeners.push(listener);
      });
      const sent = performance.now();
      await client.patch(gatehouseResource('Member'), target.metadata.namespace, target.metadata.name, { spec: { phone: `+49301234${String(i).padStart(4, '0')}` } }, { type: 'merge' });
      latencies.push((await committed) - sent);
    }

    // 3. Revocation lateness on the system clock.
    const base = Date.now() + 4000;
    // Listening before the creates: under load the first members can expire before the last is created.
    const lateness = new Map<string, number>();
    const byRef = new Map<string, number>();
    engine.listeners.push((o) => {
      for (const state of o.states) {
        const ref = key(state.ref);
        const expiresAt = byRef.get(ref);
        if (expiresAt !== undefined && state.phase === 'Expired' && !lateness.has(ref)) lateness.set(ref, Date.now() - expiresAt);
      }
    });
    for (let i = 0; i < EXPIRING; i += 1) {
      const name = `expiring-${String(i).padStart(2, '0')}`;
      const expiresAt = base + i * 37;
      byRef.set(`Member/bench-0/${name}`, expiresAt);
      await client.create(gatehouseResource('Member'), 'bench-0', {
        apiVersion: API_VERSION,
        kind: 'Member',
        metadata: { name, namespace: 'bench-0' },
        spec: { workspaceRef: { name: workspaceName(0) }, email: `${name}@example.com`, displayName: name, role: 'viewer', expiresAt: new Date(expiresAt).toISOString() },
      });
    }
    await until(async () => lateness.size === EXPIRING, 'every temporary member expired', 60_000, 50);
    const late = [...lateness.values()];

    report([
      ['objects (Workspaces + Members)', `${objects.length} (${workspaces} + ${members})`],
      ['cold start: caches synced (s)', (synced - started) / 1000],
      ['cold start: all reconciled, status written (s)', coldSeconds],
      ['cold start: objects/s (goal >= 150)', objects.length / coldSeconds],
      ['change -> store: p50 (ms)', percentile(latencies, 50)],
      ['change -> store: p99 (ms, goal < 200)', percentile(latencies, 99)],
      ['change -> store: max (ms)', Math.max(...latencies)],
      [`revocation lateness after expiresAt, ${EXPIRING} members: p50 (ms)`, percentile(late, 50)],
      ['revocation lateness: p99 (ms, goal <= 1000)', percentile(late, 99)],
      ['peak RSS of the operator process (MiB)', peakRssMiB()],
    ]);
  } finally {
    await operator?.stop();
    api.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.env.GATEHOUSE_BENCH_ROLE === 'apiserver') await serveApiServer();
else await main();
