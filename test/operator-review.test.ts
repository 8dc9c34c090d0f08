// The operator's periodic work beside the store sync, with the real engine on
// a SQLite store, the real client against the fake API server and a manual
// clock: the access review runs when a Workspace's spec.accessReview.interval
// comes round (the reconciler asks to come back then; nothing polls), into
// status and an Event; an ended SupportGrant gets its evidence digest in status.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { gatehouseResource, KubeClient } from '../src/kube/client.js';
import { StoreEngine } from '../src/kube/controller/engine-adapter.js';
import { EngineError } from '../src/kube/controller/engine-port.js';
import { Operator } from '../src/kube/operator.js';
import { getDefaultProfile } from '../src/model/index.js';
import { gatherGrantEvidence } from '../src/review/grant-evidence.js';
import { openStore, type Store } from '../src/store/store.js';
import { ManualClock } from '../src/util/clock.js';
import { silentLogger } from '../src/util/log.js';
import { FakeApiServer } from './support/fake-apiserver/index.js';
import { eventually } from './support/eventually.js';

const API_VERSION = 'gatehouse.dev/v1alpha1';
const NS = 'team-a';
const HOUR = 3_600_000;
const T0 = '2027-01-01T00:00:00.000Z';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let dir: string | undefined;
let fake: FakeApiServer | undefined;
let operator: Operator | undefined;
let store: Store | undefined;

afterEach(async () => {
  await operator?.stop();
  await store?.close();
  await fake?.stop();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  operator = store = fake = dir = undefined;
});

/** Polls a condition the operator reaches asynchronously (no timing is asserted). */
const until = (what: string, ok: () => boolean | Promise<boolean>) => eventually(ok, what);

async function startOperator(clock: ManualClock, engineOf: (store: Store) => StoreEngine = (s) => new StoreEngine(s, getDefaultProfile())) {
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-review-'));
  fake = await FakeApiServer.start({ now: () => clock.now() });
  store = await openStore(join(dir, 'store.db'));
  operator = await Operator.start({
    kubeConfig: fake.kubeConfig(),
    engine: engineOf(store),
    profile: getDefaultProfile(),
    clock,
    leaderElection: false,
    storePollMs: 0,
    // Far beyond every clock move below: only the reconciler's own requeue can bring the Workspace back.
    resyncPeriodMs: 365 * 24 * HOUR,
    log: silentLogger(),
  });
  await operator.controller.waitForSync(5000);
  return { client: new KubeClient(fake.kubeConfig()), db: store };
}

type ReviewStatus = { lastReviewedAt: string; findings: number; invitationsNotAccepted: number; inactiveMembers: number };
const status = (kind: string, name: string) => (fake?.get(API_VERSION, kind, NS, name)?.status ?? {}) as Record<string, unknown> & { phase?: string };
const review = () => status('Workspace', 'acme').accessReview as ReviewStatus | undefined;
const events = () =>
  (fake?.list('events.k8s.io/v1', 'Event') ?? [])
    .map((e) => e as unknown as { reason: string; type: string; note: string; regarding: { kind: string; name: string } })
    .filter((e) => e.regarding.kind === 'Workspace' && e.reason.startsWith('AccessReview'));

describe('the access review in the operator', () => {
  it('runs at spec.accessReview.interval into Workspace status and an Event', async () => {
    const clock = new ManualClock(T0);
    const { client } = await startOperator(clock);
    await client.create(gatehouseResource('Workspace'), NS, {
      apiVersion: API_VERSION,
      kind: 'Workspace',
      metadata: { name: 'acme', namespace: NS },
      spec: { workspaceId: 'acme', displayName: 'Acme', accessReview: { interval: '24h' } },
    });
    await until('the first review is in status', () => review() !== undefined);
    expect(review()).toMatchObject({ lastReviewedAt: T0, findings: 0, invitationsNotAccepted: 0 });
    expect(status('Workspace', 'acme').nextReviewAt).toBe('2027-01-02T00:00:00.000Z');
    await operator!.controller.events.flush();
    await until('the clean review has its Normal event', () => events().length === 1);
    expect(events()[0]).toMatchObject({ type: 'Normal', reason: 'AccessReviewPassed' });

    // An invitation nobody accepts: the next review reports it.
    await client.create(gatehouseResource('Member'), NS, {
      apiVersion: API_VERSION,
      kind: 'Member',
      metadata: { name: 'ann', namespace: NS },
      spec: { workspaceRef: { name: 'acme' }, email: 'ann@example.com', displayName: 'Ann', role: 'viewer' },
    });
    await until('ann is Invited', () => status('Member', 'ann').phase === 'Invited');
    await until('the workspace counts ann', () => status('Workspace', 'acme').memberCount === 1);
    // Reconciled again for its count, but not due: the review is not run again.
    expect(review()?.lastReviewedAt).toBe(T0);

    clock.advance(24 * HOUR);
    await until('the second review is in status', () => review()?.lastReviewedAt === '2027-01-02T00:00:00.000Z');
    expect(review()).toMatchObject({ findings: 1, invitationsNotAccepted: 1, inactiveMembers: 0 });
    expect(status('Workspace', 'acme').nextReviewAt).toBe('2027-01-03T00:00:00.000Z');
    await operator!.controller.events.flush();
    await until('the review with findings has its Warning event', () => events().length === 2);
    const warning = events().find((e) => e.type === 'Warning');
    expect(warning).toMatchObject({ reason: 'AccessReviewFindings', regarding: { name: 'acme' } });
    expect(warning?.note).toContain('1 invitation not accepted');
    expect(warning?.note).toContain('run gatehouse review --workspace acme');
  });
});

/** The real engine with the store failing the first `failures` reviews (an injected fault). */
class FailingReviews extends StoreEngine {
  calls = 0;
  constructor(store: Store, private failures: number) {
    super(store, getDefaultProfile());
  }
  override async reviewWorkspace(workspaceId: string, at: Date) {
    this.calls++;
    if (this.failures-- > 0) throw new EngineError('identity store: the review query failed (injected)');
    return super.reviewWorkspace(workspaceId, at);
  }
}

describe('a review the store cannot answer', () => {
  it('leaves status without a summary, is retried with backoff on the clock, then lands', async () => {
    const clock = new ManualClock(T0);
    let engine: FailingReviews | undefined;
    const { client } = await startOperator(clock, (s) => (engine = new FailingReviews(s, 1)));
    await client.create(gatehouseResource('Workspace'), NS, {
      apiVersion: API_VERSION,
      kind: 'Workspace',
      metadata: { name: 'acme', namespace: NS },
      spec: { workspaceId: 'acme', displayName: 'Acme' },
    });
    await until('the workspace is Ready after the failed review', () => status('Workspace', 'acme').phase === 'Ready' && engine!.calls >= 1);
    expect(review()).toBeUndefined();
    expect(status('Workspace', 'acme').nextReviewAt).toBeUndefined();
    // The retry waits for the backoff on the injected clock: move it past any backoff.
    await until('the retry lands the review', async () => {
      clock.advance(60_000);
      await sleep(20);
      return review() !== undefined;
    });
    expect(engine!.calls).toBeGreaterThanOrEqual(2);
    expect(review()?.findings).toBe(0);
  });
});

describe('the evidence digest of an ended SupportGrant', () => {
  /** A Workspace that allows support access and one whole-workspace grant of it, once the operator has it Active. */
  async function createActiveGrant(client: KubeClient, name: string, duration: string): Promise<void> {
    await client.create(gatehouseResource('Workspace'), NS, {
      apiVersion: API_VERSION,
      kind: 'Workspace',
      metadata: { name: 'acme', namespace: NS },
      spec: { workspaceId: 'acme', displayName: 'Acme', supportAccess: { allowed: true } },
    });
    await client.create(gatehouseResource('SupportGrant'), NS, {
      apiVersion: API_VERSION,
      kind: 'SupportGrant',
      metadata: { name, namespace: NS },
      spec: { workspaceRef: { name: 'acme' }, grantee: { type: 'SupportTeam' }, scope: { type: 'Workspace' }, duration, reason: 'Export totals differ.' },
    });
    await until('the grant is Active', () => status('SupportGrant', name).phase === 'Active');
  }

  it('is recorded in status when the grant is revoked, and matches the audit log', async () => {
    const clock = new ManualClock(T0);
    const { client, db } = await startOperator(clock);
    await createActiveGrant(client, 'ticket-1', '168h');
    expect(status('SupportGrant', 'ticket-1').evidenceDigest).toBeUndefined();

    await client.patch(gatehouseResource('SupportGrant'), NS, 'ticket-1', { spec: { revoked: true } }, { type: 'merge' });
    await until('the grant is Revoked with a digest', () => status('SupportGrant', 'ticket-1').phase === 'Revoked' && status('SupportGrant', 'ticket-1').evidenceDigest !== undefined);
    const evidence = await gatherGrantEvidence(db.db, 'ticket-1', NS);
    expect(evidence?.entries.map((e) => e.action)).toContain('supportgrant.revoke');
    expect(status('SupportGrant', 'ticket-1').evidenceDigest).toBe(evidence?.digest);
  });

  it('is recorded when the grant expires by the clock', async () => {
    const clock = new ManualClock(T0);
    const { client, db } = await startOperator(clock);
    await createActiveGrant(client, 'ticket-2', '2h');
    clock.advance(2 * HOUR);
    await until('the grant is Expired with a digest', () => status('SupportGrant', 'ticket-2').phase === 'Expired' && status('SupportGrant', 'ticket-2').evidenceDigest !== undefined);
    expect(status('SupportGrant', 'ticket-2').evidenceDigest).toBe((await gatherGrantEvidence(db.db, 'ticket-2', NS))?.digest);
  });
});
