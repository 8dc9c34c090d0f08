import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeApiServer } from '../../test/support/fake-apiserver/index.js';
import { ManualClock } from '../util/clock.js';
import { KubeClient } from './client.js';
import { LeaderElector } from './leader-election.js';
import { eventually } from '../../test/support/eventually.js';

const until = (condition: () => boolean, what: string, timeoutMs = 5000) => eventually(condition, what, timeoutMs);

/** Lets in-flight lease requests finish after the clock moved. */
async function settle(): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, 30));
}

describe('LeaderElector against the fake API server', () => {
  let fake: FakeApiServer;
  let clock: ManualClock;
  let electors: LeaderElector[];
  let log: string[];

  function candidate(identity: string) {
    const elector = new LeaderElector({
      client: new KubeClient(fake.kubeConfig()),
      namespace: 'gatehouse-system',
      identity,
      clock,
      onStartedLeading: () => log.push(`${identity} leads`),
      onStoppedLeading: () => log.push(`${identity} stops`),
    });
    electors.push(elector);
    return elector;
  }

  function lease() {
    return fake.get('coordination.k8s.io/v1', 'Lease', 'gatehouse-system', 'gatehouse-operator')?.spec as { holderIdentity?: string; leaseTransitions?: number; renewTime?: string };
  }

  beforeEach(async () => {
    fake = await FakeApiServer.start();
    clock = new ManualClock();
    electors = [];
    log = [];
  });
  afterEach(async () => {
    for (const e of electors) await e.stop();
    await fake.stop();
  });

  it('creates the lease and leads; a second candidate waits', async () => {
    const a = candidate('a');
    a.start();
    await until(() => a.isLeader, 'a to lead');
    const b = candidate('b');
    b.start();
    await settle();
    expect(b.isLeader).toBe(false);
    expect(lease()).toMatchObject({ holderIdentity: 'a', leaseTransitions: 0 });
    expect(lease().renewTime).toMatch(/\.\d{6}Z$/);
  });

  it('renews every retry period while leading', async () => {
    const a = candidate('a');
    a.start();
    await until(() => a.isLeader, 'a to lead');
    const first = lease().renewTime;
    clock.advance(2000);
    await until(() => lease().renewTime !== first, 'a renewal');
    expect(a.isLeader).toBe(true);
  });

  it('hands over at once when the leader releases the lease', async () => {
    const a = candidate('a');
    const b = candidate('b');
    a.start();
    await until(() => a.isLeader, 'a to lead');
    b.start();
    await settle();
    await a.stop({ release: true });
    expect(lease().holderIdentity).toBeUndefined();
    clock.advance(2000);
    await until(() => b.isLeader, 'b to take over');
    expect(lease()).toMatchObject({ holderIdentity: 'b', leaseTransitions: 1 });
    expect(log).toEqual(['a leads', 'a stops', 'b leads']);
  });

  it('takes over from a crashed leader only after the lease duration, as this candidate observed it', async () => {
    const a = candidate('a');
    const b = candidate('b');
    a.start();
    await until(() => a.isLeader, 'a to lead');
    b.start();
    await settle();
    // a crashes: it stops renewing without releasing.
    await a.stop();
    for (let t = 2000; t <= 14_000; t += 2000) {
      clock.advance(2000);
      await settle();
      expect(b.isLeader).toBe(false);
    }
    clock.advance(2000);
    await until(() => b.isLeader, 'b after the lease expired');
    expect(clock.now().getTime() - new Date('2026-01-01T00:00:00Z').getTime()).toBeGreaterThanOrEqual(15_000);
  });

  it('stops leading when it cannot renew within the renew deadline', async () => {
    const a = candidate('a');
    a.start();
    await until(() => a.isLeader, 'a to lead');
    fake.failNext('*', /leases\/gatehouse-operator/, 503, { times: 100 });
    for (let t = 0; t < 8000; t += 2000) {
      clock.advance(2000);
      await settle();
      expect(a.isLeader).toBe(true);
    }
    clock.advance(2000);
    await until(() => !a.isLeader, 'a to step down');
    expect(log).toEqual(['a leads', 'a stops']);
  });

  it('releases the lease when stopped right after acquiring it, before it started leading', async () => {
    const a = candidate('a');
    a.start();
    // Stop while the first attempt (which creates the Lease) is still in flight.
    const stopping = a.stop({ release: true });
    await stopping;
    await until(() => lease() !== undefined, 'the lease');
    expect(lease().holderIdentity).toBeUndefined();
    expect(log).toEqual([]);
  });

  it('never lets two candidates lead at once (resourceVersion on every write)', async () => {
    const all = ['a', 'b', 'c'].map(candidate);
    for (const e of all) e.start();
    await settle();
    for (let i = 0; i < 5; i += 1) {
      clock.advance(2000);
      await settle();
      expect(all.filter((e) => e.isLeader)).toHaveLength(1);
    }
  });
});

describe('two leaders at once: a renewal that hangs', () => {
  let fake: FakeApiServer;
  let clock: ManualClock;
  let electors: LeaderElector[];
  const stalled = new Set<string>();

  /** The real client, whose lease calls never answer while its identity is stalled (a partitioned or paused replica). */
  function stallableClient(identity: string): KubeClient {
    const client = new KubeClient(fake.kubeConfig());
    const hang = <T>(call: () => Promise<T>): Promise<T> => (stalled.has(identity) ? new Promise<T>(() => undefined) : call());
    return Object.assign(Object.create(client) as KubeClient, {
      get: (...args: Parameters<KubeClient['get']>) => hang(() => client.get(...args)),
      replace: (...args: Parameters<KubeClient['replace']>) => hang(() => client.replace(...args)),
      create: (...args: Parameters<KubeClient['create']>) => hang(() => client.create(...args)),
    });
  }

  function candidate(identity: string) {
    const elector = new LeaderElector({
      client: stallableClient(identity),
      namespace: 'gatehouse-system',
      identity,
      clock,
      onStartedLeading: () => undefined,
      onStoppedLeading: () => undefined,
    });
    electors.push(elector);
    return elector;
  }

  beforeEach(async () => {
    fake = await FakeApiServer.start();
    clock = new ManualClock();
    electors = [];
    stalled.clear();
  });
  afterEach(async () => {
    stalled.clear();
    for (const e of electors) void e.stop();
    await fake.stop();
  });

  it('the old leader steps down at its renew deadline although its renewal never returns; never two leaders', async () => {
    const a = candidate('a');
    a.start();
    await until(() => a.isLeader, 'a to lead');
    const b = candidate('b');
    b.start();
    await settle();
    const tokenA = a.token;
    stalled.add('a');
    let bothLed = false;
    // Two-second steps past the lease duration; b takes over once a's record is 15 s old.
    for (let step = 0; step < 12 && !b.isLeader; step += 1) {
      clock.advance(2000);
      await settle();
      if (a.isLeader && b.isLeader) bothLed = true;
    }
    expect(a.isLeader).toBe(false);
    expect(b.isLeader).toBe(true);
    expect(bothLed).toBe(false);
    // b's term is newer: its store writes fence a's out (src/store/fence.ts).
    expect(b.token?.transitions).toBeGreaterThan(tokenA?.transitions ?? Number.POSITIVE_INFINITY);
    expect(b.token?.leaseUid).toBe(tokenA?.leaseUid);
  });
});

describe('KubeClient', () => {
  it('abandons a call the API server never answers, after its timeout', async () => {
    const { createServer } = await import('node:net');
    const { KubeConfig } = await import('@kubernetes/client-node');
    const { LEASE_RESOURCE } = await import('./client.js');
    const sockets = new Set<import('node:net').Socket>();
    const server = createServer((socket) => sockets.add(socket)); // accepts, never answers (not even TLS)
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromOptions({
      clusters: [{ name: 'silent', server: `https://127.0.0.1:${port}`, skipTLSVerify: true }],
      users: [{ name: 'nobody', token: 'x' }],
      contexts: [{ name: 'silent', cluster: 'silent', user: 'nobody' }],
      currentContext: 'silent',
    });
    try {
      const client = new KubeClient(kubeConfig, { requestTimeoutMs: 100 });
      await expect(client.get(LEASE_RESOURCE, 'gatehouse-system', 'gatehouse-operator')).rejects.toThrow(/timeout/);
    } finally {
      for (const socket of sockets) socket.destroy();
      server.close();
    }
  });
});
