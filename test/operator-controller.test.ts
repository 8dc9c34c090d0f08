// The operator's controller against the fake API server, with the in-memory
// engine and a manual clock, for what only a fake shows or injects: the order
// and count of API requests (finalizer before the first store write, one status
// write per change), injected 409s and store failures, dropped watches, a lease
// that cannot be renewed, probes and metrics. The behaviour a real API server
// decides runs in test/e2e/ against envtest.
import { afterEach, describe, expect, it } from 'vitest';
import { getDefaultProfile } from '../src/model/index.js';
import { KubeClient, gatehouseResource, type KubeObject } from '../src/kube/client.js';
import { Operator, type OperatorOptions } from '../src/kube/operator.js';
import { MemoryEngine } from '../src/kube/testing/memory-engine.js';
import { ManualClock } from '../src/util/clock.js';
import { createLogger, silentLogger } from '../src/util/log.js';
import { FakeApiServer, type StoredObject } from './support/fake-apiserver/index.js';

const API_VERSION = 'gatehouse.dev/v1alpha1';
const START = '2026-03-01T09:00:00.000Z';

interface Condition {
  type: string;
  status: string;
  reason: string;
  message: string;
  observedGeneration?: number;
  lastTransitionTime: string;
}

function workspace(name = 'acme', namespace = 'team-a', spec: Record<string, unknown> = {}) {
  return { apiVersion: API_VERSION, kind: 'Workspace', metadata: { name, namespace }, spec: { workspaceId: name, displayName: name.toUpperCase(), ...spec } };
}

function member(name: string, spec: Record<string, unknown> = {}, namespace = 'team-a') {
  return {
    apiVersion: API_VERSION,
    kind: 'Member',
    metadata: { name, namespace },
    spec: { workspaceRef: { name: 'acme' }, email: `${name}@example.com`, displayName: `Person ${name}`, role: 'viewer', ...spec },
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

class Harness {
  readonly clock = new ManualClock(START);
  readonly engine = new MemoryEngine();
  fake!: FakeApiServer;
  client!: KubeClient;
  operators: Operator[] = [];

  async start(options: Partial<OperatorOptions> = {}): Promise<Operator> {
    if (!this.fake) {
      this.fake = await FakeApiServer.start({ now: () => this.clock.now() });
      this.client = new KubeClient(this.fake.kubeConfig());
    }
    // Each operator closes its engine on stop; they share the memory engine's rows through a view.
    const engine = this.engine;
    const view = {
      sync: engine.sync.bind(engine),
      readStates: engine.readStates.bind(engine),
      ping: engine.ping.bind(engine),
      close: async () => undefined,
    };
    const operator = await Operator.start({
      kubeConfig: this.fake.kubeConfig(),
      engine: view,
      profile: getDefaultProfile(),
      clock: this.clock,
      leaderElection: false,
      workers: 2,
      storePollMs: 3000,
      resyncPeriodMs: 600_000,
      log: process.env.GATEHOUSE_TEST_LOG ? createLogger({ level: 'debug' }) : silentLogger(),
      ...options,
    });
    this.operators.push(operator);
    await operator.controller.waitForSync(5000);
    return operator;
  }

  get operator(): Operator {
    return this.operators[0] as Operator;
  }

  /** Waits until no operator has work and the API server saw no request for a few ticks. */
  async settle(timeoutMs = 8000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let stable = 0;
    let last = -1;
    while (stable < 4) {
      if (Date.now() > deadline) throw new Error('the operator did not settle');
      await sleep(10);
      const count = this.fake.requests.length;
      const busy = this.operators.some((o) => o.controller.busy);
      stable = !busy && count === last ? stable + 1 : 0;
      last = count;
    }
  }

  async create(obj: { kind: string; metadata: { namespace: string } }): Promise<void> {
    await this.client.create(gatehouseResource(obj.kind as 'Member'), obj.metadata.namespace, obj);
  }

  get(kind: string, name: string, namespace = 'team-a'): StoredObject | undefined {
    return this.fake.get(API_VERSION, kind, namespace, name);
  }

  status(kind: string, name: string, namespace = 'team-a'): Record<string, unknown> & { phase?: string; conditions?: Condition[]; observedGeneration?: number } {
    return (this.get(kind, name, namespace)?.status ?? {}) as ReturnType<Harness['status']>;
  }

  condition(kind: string, name: string, type: string): Condition | undefined {
    return this.status(kind, name).conditions?.find((c) => c.type === type);
  }

  events(name?: string): Array<{ reason: string; type: string; note: string; regarding: { name: string } }> {
    return this.fake
      .list('events.k8s.io/v1', 'Event')
      .map((e) => e as unknown as { reason: string; type: string; note: string; regarding: { name: string } })
      .filter((e) => name === undefined || e.regarding.name === name);
  }

  statusWrites(name: string): number {
    return this.fake.requests.filter((r) => r.method === 'PATCH' && r.path.endsWith(`/${name}/status`) && r.status === 200).length;
  }

  async stop(): Promise<void> {
    for (const operator of this.operators) await operator.stop();
    await this.fake?.stop();
  }
}

let h: Harness;
afterEach(async () => {
  await h?.stop();
});

describe('operator controller', () => {
  it('adds the finalizer before the first store write', async () => {
    h = new Harness();
    const seen: Array<string[] | undefined> = [];
    h.engine.beforeSync = (refs) => {
      for (const ref of refs) seen.push(h.get(ref.kind, ref.name, ref.namespace)?.metadata.finalizers);
    };
    await h.start();
    await h.create(workspace());
    await h.create(member('alice'));
    await h.settle();
    expect(seen.length).toBeGreaterThanOrEqual(2);
    expect(seen.every((f) => f?.includes('gatehouse.dev/identity-store'))).toBe(true);
  });

  it('patches the finalizer onto an object only when it lacks it (set at admission: its first write is the status)', async () => {
    h = new Harness();
    await h.start();
    await h.create(workspace());
    const plain = member('alice');
    const admitted = { ...plain, metadata: { ...plain.metadata, finalizers: ['gatehouse.dev/identity-store'] } };
    await h.create(admitted);
    await h.create(member('bob'));
    await h.settle();
    const objectWrites = (name: string) => h.fake.requests.filter((r) => r.method !== 'GET' && r.path.endsWith(`/members/${name}`)).length;
    expect(h.status('Member', 'alice').phase).toBe('Invited');
    expect(objectWrites('alice')).toBe(0);
    expect(h.statusWrites('alice')).toBe(1);
    // Made without the webhook: the reconciler adds it, one patch.
    expect(objectWrites('bob')).toBe(1);
    expect(h.get('Member', 'bob')?.metadata.finalizers).toEqual(['gatehouse.dev/identity-store']);
  });

  it('writes status once per change and not at all on a resync that changes nothing', async () => {
    h = new Harness();
    await h.start();
    await h.create(workspace());
    await h.create(member('alice'));
    await h.settle();
    const writes = h.statusWrites('alice');
    // The first status's summary event is gathered for a while; send it now so only later ones count.
    await h.operator.controller.events.flush();
    const events = h.events().length;
    const syncs = h.engine.syncs.length;
    h.clock.advance(600_000);
    await h.settle();
    expect(h.engine.syncs.length).toBeGreaterThan(syncs);
    expect(h.statusWrites('alice')).toBe(writes);
    await h.operator.controller.events.flush();
    expect(h.events().length).toBe(events);
  });

  it('ignores updates that change only status or metadata; a spec change bumps observedGeneration', async () => {
    h = new Harness();
    await h.start();
    await h.create(workspace());
    await h.create(member('alice'));
    await h.settle();
    const syncs = h.engine.syncs.length;
    await h.client.patch(gatehouseResource('Member'), 'team-a', 'alice', { metadata: { labels: { team: 'blue' } } }, { type: 'merge' });
    await h.settle();
    expect(h.engine.syncs.length).toBe(syncs);

    await h.client.patch(gatehouseResource('Member'), 'team-a', 'alice', { spec: { phone: '+4930123456' } }, { type: 'merge' });
    await h.settle();
    expect(h.engine.syncs.length).toBeGreaterThan(syncs);
    const status = h.status('Member', 'alice');
    expect(status.observedGeneration).toBe(2);
    expect(status.conditions?.every((c) => c.observedGeneration === 2)).toBe(true);
  });

  it('retries a status write that got 409 Conflict', async () => {
    h = new Harness();
    await h.start();
    await h.create(workspace());
    await h.settle();
    h.fake.failNext('PATCH', /members\/alice\/status/, 409, { times: 2 });
    await h.create(member('alice'));
    await h.settle();
    expect(h.status('Member', 'alice').phase).toBeUndefined();
    // Backoff is on the clock: 5 ms, then 10 ms.
    h.clock.advance(5);
    await h.settle();
    h.clock.advance(10);
    await h.settle();
    expect(h.status('Member', 'alice').phase).toBe('Invited');
    expect(h.fake.requests.filter((r) => r.path.endsWith('/alice/status')).map((r) => r.status)).toEqual([409, 409, 200]);
  });

  it('reports a store failure in status and retries with backoff', async () => {
    h = new Harness();
    await h.start();
    await h.create(workspace());
    await h.settle();
    h.engine.failNext(2, { match: (refs) => refs.some((r) => r.name === 'alice') });
    await h.create(member('alice'));
    await h.settle();
    expect(h.condition('Member', 'alice', 'Synced')).toMatchObject({ status: 'False', reason: 'StoreError' });
    expect(h.operator.controller.queue?.numRequeues('Member/team-a/alice')).toBe(1);
    h.clock.advance(5);
    await h.settle();
    expect(h.operator.controller.queue?.numRequeues('Member/team-a/alice')).toBe(2);
    h.clock.advance(10);
    await h.settle();
    expect(h.status('Member', 'alice').phase).toBe('Invited');
    expect(h.condition('Member', 'alice', 'Synced')?.status).toBe('True');
    expect(h.operator.controller.queue?.numRequeues('Member/team-a/alice')).toBe(0);
  });

  it('watches only the namespaces it is given', async () => {
    h = new Harness();
    await h.start({ namespaces: ['team-a'] });
    await h.create(workspace());
    await h.create(workspace('other', 'team-b'));
    await h.settle();
    expect(h.status('Workspace', 'acme').phase).toBe('Ready');
    expect(h.get('Workspace', 'other', 'team-b')?.status).toBeUndefined();
    expect(h.get('Workspace', 'other', 'team-b')?.metadata.finalizers).toBeUndefined();
  });

  it('keeps converging across dropped watches and a 410 Gone relist', async () => {
    h = new Harness();
    await h.start();
    await h.create(workspace());
    await h.settle();
    h.fake.dropWatches();
    await h.create(member('during-drop'));
    h.fake.compactHistory();
    await h.settle();
    // Reconnect backoff is wall time (200 ms); wait for the relist to bring the member in.
    const deadline = Date.now() + 5000;
    while (h.status('Member', 'during-drop').phase !== 'Invited' && Date.now() < deadline) await sleep(20);
    expect(h.status('Member', 'during-drop').phase).toBe('Invited');
    expect(h.operator.controller.cache.informers.Member.stats.relists).toBeGreaterThanOrEqual(1);
  });

  it('serves /healthz, /readyz (caches and store) and /metrics', async () => {
    h = new Harness();
    const local = { host: '127.0.0.1', port: 0 };
    const operator = await h.start({ probeListen: local, metricsListen: local });
    await h.create(workspace());
    await h.settle();
    expect((await fetch(`${operator.probeUrl}/healthz`)).status).toBe(200);
    const ready = await fetch(`${operator.probeUrl}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.text()).toContain('[+] caches ok');
    h.engine.down = true;
    const notReady = await fetch(`${operator.probeUrl}/readyz`);
    expect(notReady.status).toBe(503);
    expect(await notReady.text()).toContain('[-] store failed: the store is unreachable');
    h.engine.down = false;
    const metrics = await (await fetch(`${operator.metricsUrl}/metrics`)).text();
    expect(metrics).toContain('gatehouse_reconcile_total{kind="Workspace",result="done"}');
    expect(metrics).toContain('gatehouse_reconcile_duration_seconds_bucket');
    expect(metrics).toContain('gatehouse_workqueue_depth 0');
    expect(metrics).toContain('gatehouse_store_operation_duration_seconds_bucket{le="0.0005",operation="sync"}');
    expect(metrics).toContain('gatehouse_leader 1');
  });
});

describe('operator leader election', () => {
  it('stops reconciling at once when the lease cannot be renewed', async () => {
    h = new Harness();
    const operator = await h.start({ leaderElection: { namespace: 'gatehouse-system', identity: 'only' } });
    await h.settle();
    expect(operator.controller.reconciling).toBe(true);
    h.fake.failNext('*', /leases/, 503, { times: 1000 });
    for (let i = 0; i < 5; i += 1) {
      h.clock.advance(2000);
      await sleep(30);
    }
    expect(operator.isLeader).toBe(false);
    expect(operator.controller.reconciling).toBe(false);
    h.fake.clearFailures();
    await h.create(workspace());
    await h.settle();
    expect(h.get('Workspace', 'acme')?.status).toBeUndefined();
  });
});
